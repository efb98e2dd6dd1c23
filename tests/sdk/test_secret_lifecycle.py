"""RestoreSecret, UpdateSecret, UpdateSecretVersionStage, Get/SetSecretPolicy,
UpdateSecretRotationPolicy, BatchGetSecretValue, GetRandomPassword, DescribeRegions
(kms-api.md 3.1, 3.5, 4)."""
import json
import string

import kms_support as ks
from kms_support import (LegacyKms, create_secret, describe_secret, expect_error, get_secret_value,
                         put_secret_value)

req = LegacyKms.request
PUNCTUATION = set(string.punctuation)


def m():
    return ks.models()


def delete_secret(client, name, **kwargs):
    return client.delete_secret(m().DeleteSecretRequest(secret_name=name, **kwargs))


def restore_secret(client, name):
    return client.restore_secret(m().RestoreSecretRequest(secret_name=name))


def update_stage(client, name, stage, remove_from=None, move_to=None):
    return client.update_secret_version_stage(m().UpdateSecretVersionStageRequest(
        secret_name=name, version_stage=stage, remove_from_version=remove_from, move_to_version=move_to))


def stages_of(client, name):
    body = ks.body_map(client.list_secret_version_ids(
        m().ListSecretVersionIdsRequest(secret_name=name, include_deprecated="true")))
    return {v["VersionId"]: sorted(v["VersionStages"]["VersionStage"]) for v in body["VersionIds"]["VersionId"]}


def create_rds(client, name, **kwargs):
    return create_secret(client, name, data=ks.RDS_SECRET_DATA, secret_type="Rds",
                         extended_config=dict(ks.RDS_EXTENDED_CONFIG), **kwargs)


def two_version_secret(client, name):
    create_secret(client, name, data="one")
    put_secret_value(client, name, "v2", "two")


# ---- RestoreSecret ---------------------------------------------------------------------------


def test_restore_secret_brings_back_pending_secret_with_its_versions(any_client, unique_name):
    name = unique_name()
    two_version_secret(any_client, name)
    delete_secret(any_client, name, recovery_window_in_days="7")
    body = ks.body_map(restore_secret(any_client, name))
    assert body["SecretName"] == name
    assert body["RequestId"]
    assert not ks.body_map(describe_secret(any_client, name)).get("PlannedDeleteTime")
    assert ks.body_map(get_secret_value(any_client, name))["SecretData"] == "two"
    prev = ks.body_map(get_secret_value(any_client, name, version_stage="ACSPrevious"))
    assert prev["SecretData"] == "one"


def test_restore_secret_not_pending_deletion_is_invalid(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    with expect_error("InvalidParameter", 400) as err:
        restore_secret(kms_client, name)
    assert "not pending deletion" in err.message


def test_restore_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        restore_secret(kms_client, unique_name("never-created"))


def test_restore_force_deleted_secret_is_not_found(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    delete_secret(kms_client, name, force_delete_without_recovery="true")
    with expect_error("Forbidden.ResourceNotFound", 404):
        restore_secret(kms_client, name)


# ---- UpdateSecret ----------------------------------------------------------------------------


def test_update_secret_changes_description(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, description="old")
    body = ks.body_map(any_client.update_secret(m().UpdateSecretRequest(secret_name=name, description="new one")))
    assert body["SecretName"] == name
    assert ks.body_map(describe_secret(any_client, name))["Description"] == "new one"


def test_update_secret_merges_flattened_custom_data_of_managed_secret(kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name)
    cfg = m().UpdateSecretRequestExtendedConfig(custom_data={"team": "db", "env": "prod"})
    kms_client.update_secret(m().UpdateSecretRequest(secret_name=name, extended_config=cfg))
    cfg = m().UpdateSecretRequestExtendedConfig(custom_data={"env": "test"})
    kms_client.update_secret(m().UpdateSecretRequest(secret_name=name, extended_config=cfg))
    extended = json.loads(ks.body_map(describe_secret(kms_client, name))["ExtendedConfig"])
    assert extended["CustomData"] == {"team": "db", "env": "test"}
    assert extended["DBInstanceId"] == ks.RDS_EXTENDED_CONFIG["DBInstanceId"]


def test_legacy_update_secret_accepts_json_custom_data(legacy_client, kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name)
    body = legacy_client.call(req("UpdateSecret", SecretName=name, Description="d",
                                  ExtendedConfigCustomData=json.dumps({"k": "v"})))
    assert body["SecretName"] == name
    described = ks.body_map(describe_secret(kms_client, name))
    assert described["Description"] == "d"
    assert json.loads(described["ExtendedConfig"])["CustomData"] == {"k": "v"}


def test_legacy_update_secret_rejects_custom_data_that_is_not_an_object(legacy_client, kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name)
    with expect_error("InvalidParameter", 400):
        legacy_client.call(req("UpdateSecret", SecretName=name, ExtendedConfigCustomData="[1,2]"))


def test_update_secret_custom_data_on_generic_secret_is_invalid(kms_client, legacy_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    cfg = m().UpdateSecretRequestExtendedConfig(custom_data={"k": "v"})
    with expect_error("InvalidParameter", 400):
        kms_client.update_secret(m().UpdateSecretRequest(secret_name=name, extended_config=cfg))
    with expect_error("InvalidParameter", 400):
        legacy_client.call(req("UpdateSecret", SecretName=name, ExtendedConfigCustomData='{"k":"v"}'))


def test_update_secret_rejects_more_than_10_custom_data_pairs(kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name)
    cfg = m().UpdateSecretRequestExtendedConfig(custom_data={"k%d" % i: "v" for i in range(11)})
    with expect_error("InvalidParameter", 400):
        kms_client.update_secret(m().UpdateSecretRequest(secret_name=name, extended_config=cfg))


def test_update_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        kms_client.update_secret(m().UpdateSecretRequest(secret_name=unique_name("never"), description="x"))


def test_update_pending_secret_is_rejected_in_delete_window(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    delete_secret(kms_client, name)
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        kms_client.update_secret(m().UpdateSecretRequest(secret_name=name, description="x"))


# ---- UpdateSecretVersionStage ----------------------------------------------------------------


def test_moving_current_back_gives_previous_to_the_version_it_left(any_client, unique_name):
    name = unique_name()
    two_version_secret(any_client, name)
    body = ks.body_map(update_stage(any_client, name, "ACSCurrent", remove_from="v2", move_to="v1"))
    assert body["SecretName"] == name
    assert stages_of(any_client, name) == {"v1": ["ACSCurrent"], "v2": ["ACSPrevious"]}
    assert ks.body_map(get_secret_value(any_client, name))["SecretData"] == "one"


def test_custom_label_can_be_added_moved_and_removed(kms_client, unique_name):
    name = unique_name()
    two_version_secret(kms_client, name)
    update_stage(kms_client, name, "blue", move_to="v1")
    assert stages_of(kms_client, name)["v1"] == ["ACSPrevious", "blue"]
    update_stage(kms_client, name, "blue", remove_from="v1", move_to="v2")
    assert stages_of(kms_client, name)["v2"] == ["ACSCurrent", "blue"]
    assert ks.body_map(get_secret_value(kms_client, name, version_stage="blue"))["VersionId"] == "v2"
    update_stage(kms_client, name, "blue", remove_from="v2")
    assert stages_of(kms_client, name) == {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}


def test_reserved_labels_cannot_be_only_removed(kms_client, unique_name):
    name = unique_name()
    two_version_secret(kms_client, name)
    for stage, version in (("ACSCurrent", "v2"), ("ACSPrevious", "v1")):
        with expect_error("InvalidParameter", 400):
            update_stage(kms_client, name, stage, remove_from=version)
    assert stages_of(kms_client, name) == {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}


def test_remove_from_version_must_carry_the_label(kms_client, unique_name):
    name = unique_name()
    two_version_secret(kms_client, name)
    with expect_error("InvalidParameter", 400):
        update_stage(kms_client, name, "ACSCurrent", remove_from="v1", move_to="v1")


def test_move_to_unknown_version_is_not_found(kms_client, unique_name):
    name = unique_name()
    two_version_secret(kms_client, name)
    with expect_error("Forbidden.ResourceNotFound", 404):
        update_stage(kms_client, name, "blue", move_to="v9")


def test_version_stage_needs_remove_or_move(kms_client, unique_name):
    name = unique_name()
    two_version_secret(kms_client, name)
    with expect_error("InvalidParameter", 400):
        update_stage(kms_client, name, "blue")


def test_version_stage_is_required(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    with expect_error("MissingParameter", 400):
        update_stage(kms_client, name, None, move_to="v1")


def test_ninth_stage_label_is_rejected_as_limit_exceeded(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    for i in range(7):
        update_stage(kms_client, name, "label%d" % i, move_to="v1")
    with expect_error("Rejected.LimitExceeded", 400):
        update_stage(kms_client, name, "label7", move_to="v1")


def test_version_stage_of_pending_secret_is_rejected_in_delete_window(kms_client, unique_name):
    name = unique_name()
    two_version_secret(kms_client, name)
    delete_secret(kms_client, name)
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        update_stage(kms_client, name, "ACSCurrent", remove_from="v2", move_to="v1")


def test_version_stage_of_managed_secret_is_unsupported(kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name)
    with expect_error("UnsupportedOperation", 400):
        update_stage(kms_client, name, "blue", move_to="v1")


def test_version_stage_of_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        update_stage(kms_client, unique_name("never"), "blue", move_to="v1")


# ---- Get/SetSecretPolicy ---------------------------------------------------------------------

POLICY = {"Version": "1", "Statement": [{"Sid": "s1", "Effect": "Allow",
                                         "Principal": {"RAM": ["acs:ram::%s:*" % ks.ACCOUNT_ID]},
                                         "Action": ["kms:GetSecretValue"], "Resource": ["*"]}]}


def get_policy(client, name, policy_name="default"):
    return ks.body_map(client.get_secret_policy(m().GetSecretPolicyRequest(secret_name=name, policy_name=policy_name)))


def test_new_secret_has_the_default_policy(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name)
    policy = json.loads(get_policy(any_client, name)["Policy"])
    assert policy["Version"] == "1"
    assert policy["Statement"][0]["Effect"] == "Allow"
    assert policy["Statement"][0]["Principal"]["RAM"] == ["acs:ram::%s:*" % ks.ACCOUNT_ID]


def test_set_secret_policy_is_returned_by_get(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name)
    body = ks.body_map(any_client.set_secret_policy(m().SetSecretPolicyRequest(
        secret_name=name, policy_name="default", policy=json.dumps(POLICY))))
    assert body["RequestId"]
    assert json.loads(get_policy(any_client, name)["Policy"]) == POLICY
    assert json.loads(get_policy(any_client, ks.secret_arn(name), policy_name=None)["Policy"]) == POLICY


def test_set_secret_policy_rejects_invalid_policy(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    for bad in ("not json", json.dumps({"Version": "2", "Statement": POLICY["Statement"]})):
        with expect_error("InvalidParameter", 400):
            kms_client.set_secret_policy(m().SetSecretPolicyRequest(secret_name=name, policy=bad))


def test_policy_name_other_than_default_is_invalid(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    with expect_error("InvalidParameter", 400):
        get_policy(kms_client, name, policy_name="other")
    with expect_error("InvalidParameter", 400):
        kms_client.set_secret_policy(m().SetSecretPolicyRequest(
            secret_name=name, policy_name="other", policy=json.dumps(POLICY)))


def test_secret_policy_of_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_policy(kms_client, unique_name("never"))
    with expect_error("Forbidden.ResourceNotFound", 404):
        kms_client.set_secret_policy(m().SetSecretPolicyRequest(
            secret_name=unique_name("never"), policy=json.dumps(POLICY)))


def test_set_policy_of_pending_secret_is_rejected_in_delete_window(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    delete_secret(kms_client, name)
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        kms_client.set_secret_policy(m().SetSecretPolicyRequest(secret_name=name, policy=json.dumps(POLICY)))


# ---- UpdateSecretRotationPolicy --------------------------------------------------------------


def update_rotation(client, name, enable, interval=None):
    return client.update_secret_rotation_policy(m().UpdateSecretRotationPolicyRequest(
        secret_name=name, enable_automatic_rotation=enable, rotation_interval=interval))


def test_enabling_rotation_shows_interval_and_next_date(any_client, unique_name):
    name = unique_name()
    create_rds(any_client, name)
    before = ks.utcnow()
    body = ks.body_map(update_rotation(any_client, name, True, "7d"))
    assert body["SecretName"] == name
    described = ks.body_map(describe_secret(any_client, name))
    assert described["AutomaticRotation"] == "Enabled"
    assert described["RotationInterval"] == "604800s"
    next_date = ks.parse_time(described["NextRotationDate"])
    delta = (next_date - before).total_seconds()
    assert 604800 - 5 <= delta <= 604800 + 60, delta


def test_disabling_rotation_clears_next_rotation_date(kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name, enable_automatic_rotation=True, rotation_interval="30d")
    update_rotation(kms_client, name, False)
    described = ks.body_map(describe_secret(kms_client, name))
    assert described["AutomaticRotation"] == "Disabled"
    assert not described.get("NextRotationDate")
    assert not described.get("RotationInterval")


def test_enabling_rotation_without_or_with_bad_interval_is_invalid(kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name)
    for interval in (None, "5h", "8761h", "soon"):
        with expect_error("InvalidParameter", 400):
            update_rotation(kms_client, name, True, interval)


def test_rotation_policy_of_generic_secret_is_invalid(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    with expect_error("InvalidParameter", 400):
        update_rotation(kms_client, name, True, "7d")


def test_rotation_policy_of_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        update_rotation(kms_client, unique_name("never"), True, "7d")


def test_rotation_policy_needs_enable_automatic_rotation(legacy_client, kms_client, unique_name):
    name = unique_name()
    create_rds(kms_client, name)
    with expect_error("MissingParameter", 400):
        legacy_client.call(req("UpdateSecretRotationPolicy", SecretName=name, RotationInterval="7d"))


# ---- BatchGetSecretValue ---------------------------------------------------------------------


def batch_get(client, entries):
    items = [m().BatchGetSecretValueRequestSecretsList(**e) for e in entries]
    return ks.body_map(client.batch_get_secret_value(m().BatchGetSecretValueRequest(secrets_list=items)))


def test_batch_get_returns_values_and_per_secret_errors(any_client, unique_name):
    a, b, missing = unique_name(), unique_name(), unique_name("never")
    create_secret(any_client, a, data="value-a")
    two_version_secret(any_client, b)
    body = batch_get(any_client, [{"secret_name": a}, {"secret_name": b, "version_stage": "ACSPrevious"},
                                  {"secret_name": missing}])
    values = {v["SecretName"]: v for v in body["SecretValues"]}
    assert values[a]["SecretData"] == "value-a"
    assert values[a]["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    assert values[a]["SecretDataType"] == "text"
    ks.parse_time(values[a]["CreateTime"])
    assert (values[b]["SecretData"], values[b]["VersionId"]) == ("one", "v1")
    assert body["Errors"] == [{"SecretName": missing, "Code": "Forbidden.ResourceNotFound",
                               "Message": body["Errors"][0]["Message"], "HttpStatus": 404}]


def test_batch_get_reports_pending_secret_as_delete_window_error(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    delete_secret(kms_client, name)
    body = batch_get(kms_client, [{"secret_name": name}])
    assert body["SecretValues"] == []
    assert (body["Errors"][0]["Code"], body["Errors"][0]["HttpStatus"]) == ("Rejected.ResourceInDeleteWindow", 409)


def test_batch_get_accepts_plain_names_through_the_legacy_sdk(legacy_client, kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="plain")
    raw = legacy_client.client.do_action_with_exception(
        legacy_client.prep(_legacy_batch_request(json.dumps([name]))))
    body = json.loads(raw.decode("utf-8"))
    assert [v["SecretData"] for v in body["SecretValues"]] == ["plain"]
    assert body["Errors"] == []


def _legacy_batch_request(secrets_list):
    from aliyunsdkcore.request import CommonRequest

    r = CommonRequest(domain="kms.cn-hangzhou.aliyuncs.com", version="2016-01-20",
                      action_name="BatchGetSecretValue")
    r.set_method("POST")
    r.add_query_param("SecretsList", secrets_list)
    return r


def test_batch_get_rejects_more_than_20_secrets(kms_client, unique_name):
    with expect_error("InvalidParameter", 400):
        batch_get(kms_client, [{"secret_name": unique_name()} for _ in range(21)])


def test_batch_get_rejects_malformed_secrets_list(legacy_client):
    for bad in ("not json", "{}", "[]", "[{\"VersionId\":\"v1\"}]"):
        with expect_error("InvalidParameter", 400):
            legacy_client.client.do_action_with_exception(legacy_client.prep(_legacy_batch_request(bad)))


# ---- GetRandomPassword -----------------------------------------------------------------------


def random_password(client, **kwargs):
    return ks.body_map(client.get_random_password(m().GetRandomPasswordRequest(**kwargs)))["RandomPassword"]


def test_random_password_defaults_to_32_printable_characters(any_client):
    pw = random_password(any_client)
    assert len(pw) == 32
    assert all(c.isascii() and c.isprintable() and not c.isspace() for c in pw)
    assert random_password(any_client) != pw


def test_random_password_honours_length_and_exclusions(kms_client):
    pw = random_password(kms_client, password_length="64", exclude_uppercase="true",
                         exclude_punctuation="true", exclude_characters="abc012")
    assert len(pw) == 64
    assert not set(pw) & set("abc012")
    assert not any(c.isupper() or c in PUNCTUATION for c in pw)


def test_random_password_requires_each_included_type(kms_client):
    for _ in range(10):
        pw = random_password(kms_client, password_length="8", require_each_included_type="true")
        assert any(c.islower() for c in pw) and any(c.isupper() for c in pw)
        assert any(c.isdigit() for c in pw) and any(c in PUNCTUATION for c in pw)


def test_random_password_length_outside_8_to_128_is_invalid(kms_client):
    for length in ("7", "129", "abc"):
        with expect_error("InvalidParameter", 400):
            random_password(kms_client, password_length=length)


def test_random_password_with_every_class_excluded_is_invalid(kms_client):
    with expect_error("InvalidParameter", 400):
        random_password(kms_client, exclude_lowercase="true", exclude_uppercase="true",
                        exclude_numbers="true", exclude_punctuation="true")


# ---- DescribeRegions -------------------------------------------------------------------------


def test_describe_regions_lists_the_server_region(any_client, legacy_client):
    body = ks.body_map(any_client.describe_regions())
    assert body["Regions"] == {"Region": [{"RegionId": ks.REGION}]}
    legacy = legacy_client.call(req("DescribeRegions"))
    assert legacy["Regions"]["Region"][0]["RegionId"] == ks.REGION
