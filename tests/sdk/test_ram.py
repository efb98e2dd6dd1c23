"""RAM 2015-05-01 on the openkms listener, driven by the official alibabacloud-ram20150501 SDK:
users, access keys (an inactive or deleted key is refused on its next request), customer and
system policies, attachments."""
import json

import pytest

import kms_support as ks


def ram_client(server, ak=None, sk=None):
    from alibabacloud_ram20150501.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=ak or server.access_key_id,
                                 access_key_secret=sk or server.access_key_secret,
                                 endpoint=server.endpoint, protocol="http", region_id=ks.REGION)
    return Client(cfg)


def m():
    from alibabacloud_ram20150501 import models
    return models


@pytest.fixture
def ram(server):
    return ram_client(server)


def new_user(ram, prefix="u"):
    name = ks.unique(prefix)[:60]
    ram.create_user(m().CreateUserRequest(user_name=name, display_name="Display " + name))
    return name


APP_POLICY = json.dumps({"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": "acs:kms:*:*:secret/app/*"}]})


def test_user_lifecycle(ram):
    name = ks.unique("alice")
    created = ram.create_user(m().CreateUserRequest(user_name=name, display_name="Alice",
                                                    comments="first")).body.user
    assert created.user_name == name and created.display_name == "Alice" and created.user_id
    got = ram.get_user(m().GetUserRequest(user_name=name)).body.user
    assert (got.user_id, got.comments) == (created.user_id, "first")
    with ks.expect_error("EntityAlreadyExists.User", 409):
        ram.create_user(m().CreateUserRequest(user_name=name))
    renamed = name + "-x"
    upd = ram.update_user(m().UpdateUserRequest(user_name=name, new_user_name=renamed,
                                                new_comments="second")).body.user
    assert (upd.user_name, upd.comments) == (renamed, "second")
    with ks.expect_error("EntityNotExist.User", 404):
        ram.get_user(m().GetUserRequest(user_name=name))
    names = []
    marker = None
    while True:
        body = ram.list_users(m().ListUsersRequest(max_items=2, marker=marker)).body
        names += [u.user_name for u in body.users.user]
        if not body.is_truncated:
            break
        marker = body.marker
    assert renamed in names
    ram.delete_user(m().DeleteUserRequest(user_name=renamed))
    with ks.expect_error("EntityNotExist.User", 404):
        ram.delete_user(m().DeleteUserRequest(user_name=renamed))


def test_invalid_user_name_is_refused(ram):
    with ks.expect_error("InvalidParameter", 400):
        ram.create_user(m().CreateUserRequest(user_name="bad name!"))


def test_access_keys_authenticate_until_inactive_or_deleted(server, ram):
    user = new_user(ram)
    key = ram.create_access_key(m().CreateAccessKeyRequest(user_name=user)).body.access_key
    assert key.access_key_id.startswith("LTAI") and len(key.access_key_secret) == 30
    assert key.status == "Active"
    listed = ram.list_access_keys(m().ListAccessKeysRequest(user_name=user)).body.access_keys.access_key
    assert [k.access_key_id for k in listed] == [key.access_key_id]
    assert listed[0].to_map().get("AccessKeySecret") is None

    as_user = ram_client(server, key.access_key_id, key.access_key_secret)
    # The key authenticates (the signature verifies) but a RAM user may not manage identities.
    with ks.expect_error("Forbidden.NoPermission", 403):
        as_user.get_user(m().GetUserRequest(user_name=user))
    # With no policy attached, a KMS action is refused too: least privilege by default.
    kms_as_user = ks.generated_client(server.endpoint, key.access_key_id, key.access_key_secret)
    with ks.expect_error("Forbidden.NoPermission", 403):
        kms_as_user.list_secrets(ks.models().ListSecretsRequest())

    ram.update_access_key(m().UpdateAccessKeyRequest(user_name=user, user_access_key_id=key.access_key_id,
                                                     status="Inactive"))
    with ks.expect_error("Forbidden.AccessKey", 403):
        as_user.get_user(m().GetUserRequest(user_name=user))
    ram.update_access_key(m().UpdateAccessKeyRequest(user_name=user, user_access_key_id=key.access_key_id,
                                                     status="Active"))
    with ks.expect_error("Forbidden.NoPermission", 403):
        as_user.get_user(m().GetUserRequest(user_name=user))

    with ks.expect_error("DeleteConflict.User.AccessKey", 409):
        ram.delete_user(m().DeleteUserRequest(user_name=user))
    ram.delete_access_key(m().DeleteAccessKeyRequest(user_name=user, user_access_key_id=key.access_key_id))
    with ks.expect_error("InvalidAccessKeyId.NotFound", 404):
        as_user.get_user(m().GetUserRequest(user_name=user))
    with ks.expect_error("EntityNotExist.User.AccessKey", 404):
        ram.delete_access_key(m().DeleteAccessKeyRequest(user_name=user, user_access_key_id=key.access_key_id))
    ram.delete_user(m().DeleteUserRequest(user_name=user))


def test_at_most_two_access_keys_per_user(ram):
    user = new_user(ram)
    for _ in range(2):
        ram.create_access_key(m().CreateAccessKeyRequest(user_name=user))
    with ks.expect_error("LimitExceeded.User.AccessKey", 409):
        ram.create_access_key(m().CreateAccessKeyRequest(user_name=user))


def test_customer_policy_versions(ram):
    name = ks.unique("app-read")[:100].replace("_", "-")
    created = ram.create_policy(m().CreatePolicyRequest(policy_name=name, policy_document=APP_POLICY,
                                                        description="read app secrets")).body.policy
    assert (created.policy_name, created.policy_type, created.default_version) == (name, "Custom", "v1")
    with ks.expect_error("EntityAlreadyExists.Policy", 409):
        ram.create_policy(m().CreatePolicyRequest(policy_name=name, policy_document=APP_POLICY))
    got = ram.get_policy(m().GetPolicyRequest(policy_name=name, policy_type="Custom")).body
    assert json.loads(got.default_policy_version.policy_document) == json.loads(APP_POLICY)
    assert got.default_policy_version.version_id == "v1" and got.policy.description == "read app secrets"

    v2_doc = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "acs:kms:*:*:secret/app/*"}]})
    v2 = ram.create_policy_version(m().CreatePolicyVersionRequest(
        policy_name=name, policy_document=v2_doc, set_as_default=False)).body.policy_version
    assert (v2.version_id, v2.is_default_version) == ("v2", False)
    ram.set_default_policy_version(m().SetDefaultPolicyVersionRequest(policy_name=name, version_id="v2"))
    versions = ram.list_policy_versions(m().ListPolicyVersionsRequest(
        policy_name=name, policy_type="Custom")).body.policy_versions.policy_version
    assert [(v.version_id, v.is_default_version) for v in versions] == [("v1", False), ("v2", True)]
    with ks.expect_error("EntityNotExist.Policy.Version", 404):
        ram.set_default_policy_version(m().SetDefaultPolicyVersionRequest(policy_name=name, version_id="v9"))
    listed = ram.list_policies(m().ListPoliciesRequest(policy_type="Custom", max_items=1000)).body
    assert name in [p.policy_name for p in listed.policies.policy]
    ram.delete_policy(m().DeletePolicyRequest(policy_name=name))
    with ks.expect_error("EntityNotExist.Policy", 404):
        ram.get_policy(m().GetPolicyRequest(policy_name=name, policy_type="Custom"))


@pytest.mark.parametrize("document", [
    "not json",
    json.dumps({"Version": "2", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
    json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                               "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/99"}}}]}),
])
def test_malformed_policy_documents_are_refused(ram, document):
    with ks.expect_error("MalformedPolicyDocument", 400):
        ram.create_policy(m().CreatePolicyRequest(policy_name=ks.unique("bad").replace("_", "-"),
                                                  policy_document=document))


def test_system_policies_are_listed_and_readable(ram):
    body = ram.list_policies(m().ListPoliciesRequest(policy_type="System")).body
    names = {p.policy_name for p in body.policies.policy}
    assert {"AliyunKMSFullAccess", "AliyunKMSReadOnlyAccess", "AliyunKMSSecretAdminAccess"} <= names
    got = ram.get_policy(m().GetPolicyRequest(policy_name="AliyunKMSReadOnlyAccess", policy_type="System")).body
    doc = json.loads(got.default_policy_version.policy_document)
    assert "kms:List*" in doc["Statement"][0]["Action"]


def test_attach_and_detach_policies(ram):
    user = new_user(ram)
    policy = ks.unique("attach").replace("_", "-")
    ram.create_policy(m().CreatePolicyRequest(policy_name=policy, policy_document=APP_POLICY))
    ram.attach_policy_to_user(m().AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=user))
    ram.attach_policy_to_user(m().AttachPolicyToUserRequest(policy_type="System",
                                                            policy_name="AliyunKMSReadOnlyAccess", user_name=user))
    with ks.expect_error("EntityAlreadyExists.User.Policy", 409):
        ram.attach_policy_to_user(m().AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy,
                                                                user_name=user))
    with ks.expect_error("EntityNotExist.Policy", 404):
        ram.attach_policy_to_user(m().AttachPolicyToUserRequest(policy_type="System", policy_name="NoSuchPolicy",
                                                                user_name=user))
    attached = ram.list_policies_for_user(m().ListPoliciesForUserRequest(user_name=user)).body.policies.policy
    assert sorted((p.policy_name, p.policy_type) for p in attached) == sorted(
        [(policy, "Custom"), ("AliyunKMSReadOnlyAccess", "System")])
    assert all(p.attach_date for p in attached)
    with ks.expect_error("DeleteConflict.Policy.User", 409):
        ram.delete_policy(m().DeletePolicyRequest(policy_name=policy))
    with ks.expect_error("DeleteConflict.User.Policy", 409):
        ram.delete_user(m().DeleteUserRequest(user_name=user))
    ram.detach_policy_from_user(m().DetachPolicyFromUserRequest(policy_type="Custom", policy_name=policy,
                                                                user_name=user))
    ram.detach_policy_from_user(m().DetachPolicyFromUserRequest(policy_type="System",
                                                                policy_name="AliyunKMSReadOnlyAccess", user_name=user))
    with ks.expect_error("EntityNotExist.User.Policy", 404):
        ram.detach_policy_from_user(m().DetachPolicyFromUserRequest(policy_type="Custom", policy_name=policy,
                                                                    user_name=user))
    ram.delete_policy(m().DeletePolicyRequest(policy_name=policy))
    ram.delete_user(m().DeleteUserRequest(user_name=user))


def test_unknown_ram_action_is_not_found(raw):
    resp = raw.v1("ListGroups", version="2015-05-01")
    ks.assert_error_response(resp, "InvalidAction.NotFound", 404)
