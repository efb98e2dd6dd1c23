"""Authorization of KMS actions for RAM users: identity policies (RAM SDK) together with secret
policies (KMS SDK), decided per request. The root key used by the rest of the suite bypasses
all of it."""
import json
import uuid

import pytest

import kms_support as ks
from test_ram import m, ram_client


class User:
    """A RAM user with one access key and the KMS client that signs with it."""

    def __init__(self, server, ram, statements=None, system_policy=None):
        self.ram = ram
        self.name = "authz-" + uuid.uuid4().hex[:12]
        ram.create_user(m().CreateUserRequest(user_name=self.name))
        key = ram.create_access_key(m().CreateAccessKeyRequest(user_name=self.name)).body.access_key
        self.key_id, self.key_secret = key.access_key_id, key.access_key_secret
        self.kms = ks.generated_client(server.endpoint, key.access_key_id, key.access_key_secret)
        if statements is not None:
            self.attach_document({"Version": "1", "Statement": statements})
        if system_policy:
            ram.attach_policy_to_user(m().AttachPolicyToUserRequest(
                policy_type="System", policy_name=system_policy, user_name=self.name))

    def attach_document(self, document):
        policy = "p-" + uuid.uuid4().hex[:12]
        self.ram.create_policy(m().CreatePolicyRequest(policy_name=policy, policy_document=json.dumps(document)))
        self.ram.attach_policy_to_user(m().AttachPolicyToUserRequest(
            policy_type="Custom", policy_name=policy, user_name=self.name))
        return policy

    def arn(self):
        return "acs:ram::%s:user/%s" % (ks.ACCOUNT_ID, self.name)


@pytest.fixture
def ram(server):
    return ram_client(server)


def app_name():
    return "app/" + uuid.uuid4().hex[:12]


def allow(actions, resources, condition=None):
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def forbidden(action, resource):
    """expect_error for Forbidden.NoPermission; checks the message names action and resource."""
    return _Forbidden(action, resource)


class _Forbidden:
    def __init__(self, action, resource):
        self.action, self.resource = action, resource
        self.cm = ks.expect_error("Forbidden.NoPermission", 403)

    def __enter__(self):
        self.info = self.cm.__enter__()
        return self.info

    def __exit__(self, *exc):
        result = self.cm.__exit__(*exc)
        assert self.action in (self.info.message or ""), self.info.message
        assert self.resource in (self.info.message or ""), self.info.message
        return result


def test_user_limited_to_app_secrets(server, kms_client, ram):
    mine, other = app_name(), "db/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, mine, data="app-value")
    ks.create_secret(kms_client, other, data="db-value")
    user = User(server, ram, [allow(["kms:GetSecretValue", "kms:DescribeSecret"], "acs:kms:*:*:secret/app/*")])

    assert ks.get_secret_value(user.kms, mine).body.secret_data == "app-value"
    assert ks.describe_secret(user.kms, mine).body.secret_name == mine
    with forbidden("kms:GetSecretValue", ks.secret_arn(other)):
        ks.get_secret_value(user.kms, other)
    with forbidden("kms:PutSecretValue", ks.secret_arn(mine)):
        ks.put_secret_value(user.kms, mine, "v2", "new")
    with forbidden("kms:CreateSecret", ks.secret_arn("app/new")):
        ks.create_secret(user.kms, "app/new")
    with forbidden("kms:ListSecrets", "acs:kms:%s:%s:secret" % (ks.REGION, ks.ACCOUNT_ID)):
        user.kms.list_secrets(ks.models().ListSecretsRequest())
    # A secret that does not exist is refused, not reported missing: nothing leaks.
    with forbidden("kms:GetSecretValue", ks.secret_arn("db/absent")):
        ks.get_secret_value(user.kms, "db/absent")
    # Actions are case-insensitive, resources are not.
    lower = User(server, ram, [allow("KMS:getsecretvalue", "acs:kms:*:*:secret/APP/*")])
    with forbidden("kms:GetSecretValue", ks.secret_arn(mine)):
        ks.get_secret_value(lower.kms, mine)


def test_policy_changes_take_effect_at_once(server, kms_client, ram):
    name = app_name()
    ks.create_secret(kms_client, name, data="v")
    user = User(server, ram)
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(user.kms, name)
    policy = user.attach_document({"Version": "1", "Statement": [allow("kms:GetSecretValue", "*")]})
    assert ks.get_secret_value(user.kms, name).body.secret_data == "v"
    ram.create_policy_version(m().CreatePolicyVersionRequest(
        policy_name=policy, set_as_default=True,
        policy_document=json.dumps({"Version": "1", "Statement": [allow("kms:DescribeSecret", "*")]})))
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(user.kms, name)
    ram.set_default_policy_version(m().SetDefaultPolicyVersionRequest(policy_name=policy, version_id="v1"))
    assert ks.get_secret_value(user.kms, name).body.secret_data == "v"
    ram.detach_policy_from_user(m().DetachPolicyFromUserRequest(
        policy_type="Custom", policy_name=policy, user_name=user.name))
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(user.kms, name)


def test_system_policies_grant_their_published_meaning(server, kms_client, ram):
    name = app_name()
    ks.create_secret(kms_client, name, data="v")
    reader = User(server, ram, system_policy="AliyunKMSReadOnlyAccess")
    assert ks.describe_secret(reader.kms, name).body.secret_name == name
    reader.kms.list_secrets(ks.models().ListSecretsRequest())
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(reader.kms, name)
    admin = User(server, ram, system_policy="AliyunKMSSecretAdminAccess")
    assert ks.get_secret_value(admin.kms, name).body.secret_data == "v"
    ks.create_secret(admin.kms, app_name())
    with forbidden("kms:CreateKey", "acs:kms:%s:%s:key" % (ks.REGION, ks.ACCOUNT_ID)):
        admin.kms.create_key(ks.models().CreateKeyRequest())


def test_deny_in_secret_policy_beats_identity_allow(server, kms_client, ram):
    name = app_name()
    ks.create_secret(kms_client, name, data="v")
    user = User(server, ram, [allow("kms:*", "acs:kms:*:*:secret/app/*")])
    assert ks.get_secret_value(user.kms, name).body.secret_data == "v"
    policy = {"Version": "1", "Statement": [
        {"Effect": "Allow", "Principal": {"RAM": ["acs:ram::%s:*" % ks.ACCOUNT_ID]}, "Action": ["kms:*"],
         "Resource": ["*"]},
        {"Effect": "Deny", "Principal": {"RAM": [user.arn()]}, "Action": ["kms:GetSecretValue"],
         "Resource": ["*"]}]}
    kms_client.set_secret_policy(ks.models().SetSecretPolicyRequest(secret_name=name, policy=json.dumps(policy)))
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(user.kms, name)
    # The root key is never denied by a secret policy.
    assert ks.get_secret_value(kms_client, name).body.secret_data == "v"


def test_secret_policy_can_grant_another_user(server, kms_client, ram):
    name = app_name()
    ks.create_secret(kms_client, name, data="shared")
    grantee = User(server, ram)
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(grantee.kms, name)
    policy = {"Version": "1", "Statement": [
        {"Effect": "Allow", "Principal": {"RAM": ["acs:ram::%s:*" % ks.ACCOUNT_ID]}, "Action": ["kms:*"],
         "Resource": ["*"]},
        {"Effect": "Allow", "Principal": {"RAM": [grantee.arn()]}, "Action": ["kms:GetSecretValue"],
         "Resource": ["*"]}]}
    kms_client.set_secret_policy(ks.models().SetSecretPolicyRequest(secret_name=name, policy=json.dumps(policy)))
    assert ks.get_secret_value(grantee.kms, name).body.secret_data == "shared"
    with forbidden("kms:DescribeSecret", ks.secret_arn(name)):
        ks.describe_secret(grantee.kms, name)


def test_inactive_key_is_refused(server, kms_client, ram):
    name = app_name()
    ks.create_secret(kms_client, name, data="v")
    user = User(server, ram, [allow("kms:GetSecretValue", "*")])
    assert ks.get_secret_value(user.kms, name).body.secret_data == "v"
    ram.update_access_key(m().UpdateAccessKeyRequest(user_name=user.name, user_access_key_id=user.key_id,
                                                     status="Inactive"))
    with ks.expect_error("Forbidden.AccessKey", 403):
        ks.get_secret_value(user.kms, name)


def test_source_ip_conditions_decide_as_written(server, kms_client, ram):
    name = app_name()
    ks.create_secret(kms_client, name, data="v")
    local = User(server, ram, [allow("kms:GetSecretValue", "*", {"IpAddress": {"acs:SourceIp": ["127.0.0.0/8", "::1"]}})])
    assert ks.get_secret_value(local.kms, name).body.secret_data == "v"
    remote = User(server, ram, [allow("kms:GetSecretValue", "*", {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})])
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(remote.kms, name)
    denied = User(server, ram, [allow("kms:GetSecretValue", "*"),
                                {"Effect": "Deny", "Action": "kms:*", "Resource": "*",
                                 "Condition": {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}}])
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(denied.kms, name)


def test_tag_conditions_decide_as_written(server, kms_client, ram):
    dev, prod = app_name(), app_name()
    ks.create_secret(kms_client, dev, data="dev", tags=json.dumps([{"TagKey": "env", "TagValue": "dev"}]))
    ks.create_secret(kms_client, prod, data="prod", tags=json.dumps([{"TagKey": "env", "TagValue": "prod"}]))
    user = User(server, ram, [allow("kms:GetSecretValue", "*", {"StringEquals": {"kms:tag/env": "dev"}})])
    assert ks.get_secret_value(user.kms, dev).body.secret_data == "dev"
    with forbidden("kms:GetSecretValue", ks.secret_arn(prod)):
        ks.get_secret_value(user.kms, prod)


def test_customer_key_secrets_need_key_permissions(server, kms_client, ram):
    key_id = ks.create_key(kms_client)["KeyId"]
    name = app_name()
    ks.create_secret(kms_client, name, data="v", encryption_key_id=key_id)
    reader = User(server, ram, [allow(["kms:GetSecretValue", "kms:PutSecretValue"], "acs:kms:*:*:secret/app/*")])
    with forbidden("kms:Decrypt", ks.key_arn(key_id)):
        ks.get_secret_value(reader.kms, name)
    with forbidden("kms:GenerateDataKey", ks.key_arn(key_id)):
        ks.put_secret_value(reader.kms, name, "v2", "w")
    reader.attach_document({"Version": "1", "Statement": [
        allow(["kms:Decrypt", "kms:GenerateDataKey"], "acs:kms:*:*:key/*")]})
    assert ks.get_secret_value(reader.kms, name).body.secret_data == "v"
    ks.put_secret_value(reader.kms, name, "v2", "w")
    # Creating a secret under the key needs kms:GenerateDataKey on it as well.
    creator = User(server, ram, [allow("kms:CreateSecret", "acs:kms:*:*:secret/app/*")])
    with forbidden("kms:GenerateDataKey", ks.key_arn(key_id)):
        ks.create_secret(creator.kms, app_name(), encryption_key_id=key_id)
    ks.create_secret(creator.kms, app_name())


def test_batch_reads_are_refused_to_users(server, kms_client, ram):
    user = User(server, ram, [allow("kms:*", "*")])
    with forbidden("kms:BatchGetSecretValue", "*"):
        user.kms.batch_get_secret_value(ks.models().BatchGetSecretValueRequest(
            secrets_list=[ks.models().BatchGetSecretValueRequestSecretsList(secret_name=app_name())]))
