"""Attacks on openkms's authority, replayed through the official SDKs (issue 12):

- managed rotation as a confused deputy: a user with rights over secrets only (the system policy
  AliyunKMSSecretAdminAccess) makes openkms create and hand over another user's access key, or
  reset a database account's password, by creating (or rotating) a managed secret that names it;
- an STS session that outlives its role and would gain the rights of a re-created role of the
  same name;
- AssumeRole that ignores ExternalId in the trust policy;
- AssumeRole with the account's root access key.

Each test fails on the code before the fix."""
import json
import time
import uuid

import pytest

import kms_support as ks
from conftest import store_base_url
from rotation_targets import ENGINES, account_name
from test_ram import m as ram_models, new_user, ram_client
from test_rotation import register, rotate, value
from test_sts import kms_with, role_arn, sts_client, sts_models

RAM_KEY_ACTIONS = ["ram:CreateAccessKey", "ram:DeleteAccessKey", "ram:UpdateAccessKey", "ram:ListAccessKeys"]
ASSUME_ANY = json.dumps({"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})


def user_arn(name):
    return "acs:ram::%s:user/%s" % (ks.ACCOUNT_ID, name)


def db_instance_arn(instance):
    return "acs:kms:%s:%s:dbinstance/%s" % (ks.REGION, ks.ACCOUNT_ID, instance)


def custom_policy(ram, statements):
    name = "p-" + uuid.uuid4().hex[:12]
    ram.create_policy(ram_models().CreatePolicyRequest(policy_name=name, policy_document=json.dumps(
        {"Version": "1", "Statement": statements})))
    return name


def user_with(ram, prefix, system=(), custom=()):
    """A RAM user with these system and customer policies and one access key: (name, key)."""
    name = new_user(ram, prefix)
    for policy in system:
        ram.attach_policy_to_user(ram_models().AttachPolicyToUserRequest(
            policy_type="System", policy_name=policy, user_name=name))
    for policy in custom:
        ram.attach_policy_to_user(ram_models().AttachPolicyToUserRequest(
            policy_type="Custom", policy_name=policy, user_name=name))
    key = ram.create_access_key(ram_models().CreateAccessKeyRequest(user_name=name)).body.access_key
    return name, key


def grant(ram, user, statements):
    ram.attach_policy_to_user(ram_models().AttachPolicyToUserRequest(
        policy_type="Custom", policy_name=custom_policy(ram, statements), user_name=user))


def kms_as(server, key):
    return ks.generated_client(server.endpoint, key.access_key_id, key.access_key_secret)


def key_ids(ram, user):
    listed = ram.list_access_keys(ram_models().ListAccessKeysRequest(user_name=user)).body.access_keys.access_key
    return sorted(k.access_key_id for k in listed)


def ram_secret(client, user):
    # Named explicitly: kms:CreateSecret with "$Auto" is authorized on the text "$Auto" today
    # (authz's resource rule, not this file's subject), which only Resource "*" matches.
    name = "acs/ram/user/" + user
    data = json.dumps({"AccessKeys": [{"AccessKeyId": "LTAI" + uuid.uuid4().hex[:20],
                                       "AccessKeySecret": uuid.uuid4().hex}]})
    return ks.create_secret(client, name, data=data, secret_type="RAMCredentials",
                            extended_config={"SecretSubType": "RamUserAccessKey", "UserName": user})


def assert_refused(info, action, resource):
    assert action in info.message and resource in info.message, info.message


def test_a_secret_admin_cannot_make_rotation_hand_over_another_users_access_key(server, kms_client):
    ram = ram_client(server)
    victim, victim_key = user_with(ram, "victim", system=["AliyunKMSFullAccess"])
    attacker, attacker_key = user_with(ram, "attacker", system=["AliyunKMSSecretAdminAccess"])
    attacker_kms = kms_as(server, attacker_key)
    victim_keys = key_ids(ram, victim)

    # 1. CreateSecret naming the victim: refused, nothing is created.
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        ram_secret(attacker_kms, victim)
    assert_refused(info, "ram:CreateAccessKey", user_arn(victim))
    with ks.expect_error("Forbidden.ResourceNotFound", 404):
        ks.describe_secret(kms_client, "acs/ram/user/" + victim)

    # 2. A secret for the victim made by the root key: the attacker may read it (its policy
    #    covers secrets) but not make openkms rotate the victim's keys now.
    name = ks.body_map(ram_secret(kms_client, victim))["SecretName"]
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        rotate(attacker_kms, name, "stolen")
    assert_refused(info, "ram:CreateAccessKey", user_arn(victim))
    #    Nor have the scheduler do it later: turning automatic rotation on needs the same rights.
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        attacker_kms.update_secret_rotation_policy(ks.models().UpdateSecretRotationPolicyRequest(
            secret_name=name, enable_automatic_rotation=True, rotation_interval="7d"))
    assert_refused(info, "ram:CreateAccessKey", user_arn(victim))
    attacker_kms.update_secret_rotation_policy(ks.models().UpdateSecretRotationPolicyRequest(
        secret_name=name, enable_automatic_rotation=False))
    assert key_ids(ram, victim) == victim_keys
    kms_as(server, victim_key).list_keys(ks.models().ListKeysRequest())  # the victim is not locked out

    # 3. Rights over one user: a secret for it is allowed and rotates; its neighbour stays out of reach.
    mine = new_user(ram, "mine")
    neighbour = new_user(ram, "neighbour")
    grant(ram, attacker, [{"Effect": "Allow", "Action": RAM_KEY_ACTIONS[:3], "Resource": user_arn(mine)}])
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        ram_secret(attacker_kms, mine)
    assert_refused(info, "ram:ListAccessKeys", user_arn(mine))  # all four are needed
    grant(ram, attacker, [{"Effect": "Allow", "Action": RAM_KEY_ACTIONS[3], "Resource": user_arn(mine)}])
    own = ks.body_map(ram_secret(attacker_kms, mine))["SecretName"]
    rotate(attacker_kms, own, "r1")
    fresh = json.loads(ks.body_map(ks.get_secret_value(attacker_kms, own))["SecretData"])
    assert key_ids(ram, mine) == [fresh["AccessKeyId"]]
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        ram_secret(attacker_kms, neighbour)
    assert_refused(info, "ram:CreateAccessKey", user_arn(neighbour))

    # 4. UpdateSecret cannot re-point the attacker's own secret at the victim, in any encoding.
    attacker_kms.update_secret(ks.models().UpdateSecretRequest(
        secret_name=own, extended_config=ks.models().UpdateSecretRequestExtendedConfig(
            custom_data={"UserName": victim})))
    raw = server.raw(attacker_key.access_key_id, attacker_key.access_key_secret)
    for form in ({"ExtendedConfig": json.dumps({"SecretSubType": "RamUserAccessKey", "UserName": victim})},
                 {"ExtendedConfig.UserName": victim}):
        # Ignored or refused (400), never applied.
        assert raw.v3("UpdateSecret", form=dict(form, SecretName=own)).status in (200, 400)
    config = json.loads(ks.body_map(ks.describe_secret(kms_client, own))["ExtendedConfig"])
    assert config["UserName"] == mine
    rotate(attacker_kms, own, "r2")
    assert key_ids(ram, victim) == victim_keys

    # 5. With the four actions on the victim too (an administrator's grant), it is allowed.
    grant(ram, attacker, [{"Effect": "Allow", "Action": RAM_KEY_ACTIONS, "Resource": user_arn(victim)}])
    rotate(attacker_kms, name, "granted")
    assert key_ids(ram, victim) != victim_keys


def test_an_explicit_deny_or_a_session_policy_keeps_rotation_away_from_a_user(server, kms_client):
    ram = ram_client(server)
    target = new_user(ram, "tgt")
    allow = {"Effect": "Allow", "Action": "ram:*", "Resource": user_arn(target)}
    deny = {"Effect": "Deny", "Action": "ram:DeleteAccessKey", "Resource": "*"}
    _, key = user_with(ram, "denied", system=["AliyunKMSSecretAdminAccess"],
                       custom=[custom_policy(ram, [allow, deny])])
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        ram_secret(kms_as(server, key), target)
    assert_refused(info, "ram:DeleteAccessKey", user_arn(target))

    # A role session: the role's policies allow, a session policy without ram: narrows them away.
    assumer, assumer_key = user_with(ram, "assumer", custom=[custom_policy(ram, json.loads(ASSUME_ANY)["Statement"])])
    role = "role-" + uuid.uuid4().hex[:12]
    ram.create_role(ram_models().CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [user_arn(assumer)]}}]})))
    ram.attach_policy_to_role(ram_models().AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunKMSFullAccess", role_name=role))
    ram.attach_policy_to_role(ram_models().AttachPolicyToRoleRequest(
        policy_type="Custom", policy_name=custom_policy(ram, [allow]), role_name=role))

    def session(policy=None):
        req = sts_models().AssumeRoleRequest(role_arn=role_arn(role), role_session_name="s1", policy=policy)
        creds = sts_client(server, assumer_key.access_key_id, assumer_key.access_key_secret) \
            .assume_role(req).body.credentials
        return kms_with(server, creds)

    narrow = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        ram_secret(session(narrow), target)
    assert_refused(info, "ram:CreateAccessKey", user_arn(target))
    ks.body_map(ram_secret(session(), target))


def test_a_secret_admin_cannot_make_rotation_reset_a_database_account(server, kms_client):
    target = ENGINES["mysql"]()
    instance, neighbour = register(server, kms_client, target), register(server, kms_client, target)
    account, password = account_name(), "Init" + uuid.uuid4().hex
    target.create_account(account, password)
    ram = ram_client(server)
    attacker, attacker_key = user_with(ram, "dbattacker", system=["AliyunKMSSecretAdminAccess"])
    attacker_kms = kms_as(server, attacker_key)
    data = json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": "guess"}]})

    def rds_secret(client, on):
        name = ks.unique("rds")
        ks.create_secret(client, name, data=data, secret_type="Rds",
                         extended_config={"SecretSubType": "SingleUser", "DBInstanceId": on})
        return name

    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        rds_secret(attacker_kms, instance)
    assert_refused(info, "kms:ManageDatabaseCredential", db_instance_arn(instance))

    # A secret the root key made: the attacker cannot make openkms reset the password now.
    by_root = ks.unique("rds")
    ks.create_secret(kms_client, by_root, data=json.dumps(
        {"Accounts": [{"AccountName": account, "AccountPassword": password}]}), secret_type="Rds",
        extended_config={"SecretSubType": "SingleUser", "DBInstanceId": instance})
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        rotate(attacker_kms, by_root, "stolen")
    assert_refused(info, "kms:ManageDatabaseCredential", db_instance_arn(instance))
    assert target.can_login(account, password)

    # Granted on this instance: allowed, and the rotation works; the neighbour stays refused.
    grant(ram, attacker, [{"Effect": "Allow", "Action": "kms:ManageDatabaseCredential",
                           "Resource": db_instance_arn(instance)}])
    rotate(attacker_kms, by_root, "granted")
    cur, _ = value(attacker_kms, by_root)
    assert target.can_login(account, cur["AccountPassword"]) and not target.can_login(account, password)
    rds_secret(attacker_kms, instance)
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        rds_secret(attacker_kms, neighbour)
    assert_refused(info, "kms:ManageDatabaseCredential", db_instance_arn(neighbour))

    # AliyunKMSFullAccess (kms:* on *) includes the action.
    _, full_key = user_with(ram, "dbadmin", system=["AliyunKMSFullAccess"])
    rds_secret(kms_as(server, full_key), neighbour)


def test_redis_secrets_need_the_right_on_their_instance_too(server, kms_client):
    target = ENGINES["redis"]()
    instance = register(server, kms_client, target)
    ram = ram_client(server)
    _, key = user_with(ram, "redisattacker", system=["AliyunKMSSecretAdminAccess"])
    with ks.expect_error("Forbidden.NoPermission", 403) as info:
        ks.create_secret(kms_as(server, key), ks.unique("redis"), data="$Auto", secret_type="Redis",
                         extended_config={"SecretSubType": "DoubleUsers", "InstanceId": instance,
                                          "AccountName": "default"})
    assert_refused(info, "kms:ManageDatabaseCredential", db_instance_arn(instance))


def assumer(ram):
    return user_with(ram, "assumer", custom=[custom_policy(ram, json.loads(ASSUME_ANY)["Statement"])])


def assume(server, key, role, external_id=None, signature="v3"):
    client = sts_client(server, key.access_key_id, key.access_key_secret)
    if signature == "v1":
        client = _v1_sts_client(server, key)
    req = sts_models().AssumeRoleRequest(role_arn=role_arn(role), role_session_name="s1",
                                         external_id=external_id)
    return client.assume_role(req).body.credentials


def _v1_sts_client(server, key):
    from alibabacloud_sts20150401.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=key.access_key_id, access_key_secret=key.access_key_secret,
                                 endpoint=server.endpoint, protocol="http", region_id=ks.REGION,
                                 signature_algorithm="v2")
    return Client(cfg)


def test_a_session_ends_with_its_role_and_never_gains_a_re_created_roles_rights(server, kms_client):
    ram = ram_client(server)
    user, key = assumer(ram)
    secret = ks.unique("app")
    ks.create_secret(kms_client, secret, data="role-read")
    role = "role-" + uuid.uuid4().hex[:12]
    trusting = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [user_arn(user)]}}]})
    ram.create_role(ram_models().CreateRoleRequest(role_name=role, assume_role_policy_document=trusting))
    ram.attach_policy_to_role(ram_models().AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunKMSReadOnlyAccess", role_name=role))
    kms = kms_with(server, assume(server, key, role))
    kms.list_secrets(ks.models().ListSecretsRequest())
    with ks.expect_error("Forbidden.NoPermission", 403):
        ks.get_secret_value(kms, secret)

    ram.detach_policy_from_role(ram_models().DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunKMSReadOnlyAccess", role_name=role))
    ram.delete_role(ram_models().DeleteRoleRequest(role_name=role))
    with ks.expect_error("InvalidSecurityToken.Expired", 400):
        kms.list_secrets(ks.models().ListSecretsRequest())

    # Re-created under the same name, trusting nobody the user is, with full rights.
    nobody = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [user_arn("someone-else")]}}]})
    ram.create_role(ram_models().CreateRoleRequest(role_name=role, assume_role_policy_document=nobody))
    ram.attach_policy_to_role(ram_models().AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunKMSFullAccess", role_name=role))
    with ks.expect_error("InvalidSecurityToken.Expired", 400):
        ks.get_secret_value(kms, secret)
    with ks.expect_error("InvalidSecurityToken.Expired", 400):
        kms.create_key(ks.models().CreateKeyRequest())
    with ks.expect_error("NoPermission", 403):
        assume(server, key, role)


@pytest.mark.parametrize("signature", ["v3", "v1"])
def test_assume_role_honours_the_external_id_of_the_trust_policy(server, signature):
    ram = ram_client(server)
    user, key = assumer(ram)
    external_id = "tenant-" + uuid.uuid4().hex[:8]
    role = "role-" + uuid.uuid4().hex[:12]
    ram.create_role(ram_models().CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [user_arn(user)]},
                                        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]})))
    creds = assume(server, key, role, external_id, signature)
    assert creds.access_key_id.startswith("STS.")
    with ks.expect_error("NoPermission", 403):
        assume(server, key, role, external_id + "x", signature)
    with ks.expect_error("NoPermission", 403):
        assume(server, key, role, None, signature)
    with ks.expect_error("InvalidParameter", 400):
        assume(server, key, role, "has space", signature)


def test_the_root_key_cannot_assume_a_role(server):
    role = "role-" + uuid.uuid4().hex[:12]
    ram = ram_client(server)
    ram.create_role(ram_models().CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": ["acs:ram::%s:root" % ks.ACCOUNT_ID]}}]})))
    with ks.expect_error("NoPermission", 403) as info:
        sts_client(server).assume_role(sts_models().AssumeRoleRequest(
            role_arn=role_arn(role), role_session_name="root-session"))
    assert "Roles may not be assumed by root accounts" in info.message


@pytest.mark.skipif(not store_base_url(), reason="two nodes need a shared store: set OPENKMS_TEST_STORE_URL")
def test_a_role_deleted_on_one_node_ends_its_sessions_on_the_other_within_the_refresh(fresh_server):
    a = fresh_server()
    b = fresh_server(store_url=a.store_url, env_overrides={"OPENKMS_ROOT_KEY_FILE": str(a.data_dir / "root.key")})
    ram_a = ram_client(a)
    _, key = assumer(ram_a)
    role = "role-" + uuid.uuid4().hex[:12]
    ram_a.create_role(ram_models().CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": ["acs:ram::%s:root" % ks.ACCOUNT_ID]}}]})))
    ram_a.attach_policy_to_role(ram_models().AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunKMSReadOnlyAccess", role_name=role))
    on_b = kms_with(b, assume(a, key, role))
    on_b.list_secrets(ks.models().ListSecretsRequest())  # node b caches the RoleId
    ram_a.detach_policy_from_role(ram_models().DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunKMSReadOnlyAccess", role_name=role))
    ram_a.delete_role(ram_models().DeleteRoleRequest(role_name=role))
    deadline = time.monotonic() + 8
    while True:
        try:
            on_b.list_secrets(ks.models().ListSecretsRequest())
        except Exception as exc:  # noqa: BLE001 - the code tells which refusal
            code, status, _ = ks.error_code_and_status(exc)
            if code == "Forbidden.NoPermission":  # the role's policies are gone first: keep waiting
                pass
            else:
                assert (code, status) == ("InvalidSecurityToken.Expired", 400)
                break
        assert time.monotonic() < deadline, "node b still accepts the session of a deleted role"
        time.sleep(0.5)


def test_the_credentials_providers_ram_role_sends_the_external_id_the_trust_policy_needs(server):
    """alibabacloud-credentials' RAM-role provider (V1 GET, ExternalId in the query). Its STS
    request is https unless sts_endpoint carries a scheme: an `http://` endpoint is sent as is."""
    from alibabacloud_credentials.exceptions import CredentialException
    from alibabacloud_credentials.provider.ram_role_arn import RamRoleArnCredentialsProvider

    ram = ram_client(server)
    user, key = assumer(ram)
    external_id = "tenant-" + uuid.uuid4().hex[:8]
    role = "role-" + uuid.uuid4().hex[:12]
    ram.create_role(ram_models().CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [user_arn(user)]},
                                        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]})))
    ram.attach_policy_to_role(ram_models().AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunKMSReadOnlyAccess", role_name=role))

    def provider(eid):
        return RamRoleArnCredentialsProvider(
            access_key_id=key.access_key_id, access_key_secret=key.access_key_secret, role_arn=role_arn(role),
            role_session_name="provider", external_id=eid, sts_endpoint="http://" + server.endpoint)

    creds = provider(external_id).get_credentials()
    assert creds.get_access_key_id().startswith("STS.")
    kms = ks.generated_client(server.endpoint, creds.get_access_key_id(), creds.get_access_key_secret(),
                              security_token=creds.get_security_token())
    kms.list_secrets(ks.models().ListSecretsRequest())
    for wrong in (external_id + "x", None):
        with pytest.raises(CredentialException, match="NoPermission"):
            provider(wrong).get_credentials()
