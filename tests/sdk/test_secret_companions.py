"""DescribeSecret, PutSecretValue, ListSecretVersionIds, DeleteSecret (kms-api.md 3.1, 4.1, 4.2)."""
import datetime
import json

import kms_support as ks
from kms_support import create_secret, describe_secret, expect_error, get_secret_value, put_secret_value


def list_versions(client, name, include_deprecated=None):
    m = ks.models()
    req = m.ListSecretVersionIdsRequest(secret_name=name, include_deprecated=include_deprecated)
    return ks.body_map(client.list_secret_version_ids(req))


def stages_by_version(body):
    return {v["VersionId"]: sorted((v.get("VersionStages") or {}).get("VersionStage") or [])
            for v in body["VersionIds"]["VersionId"]}


def delete_secret(client, name, **kwargs):
    return client.delete_secret(ks.models().DeleteSecretRequest(secret_name=name, **kwargs))


# ---- DescribeSecret --------------------------------------------------------------------------


def test_describe_secret_returns_metadata(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, description="my description")
    body = ks.body_map(describe_secret(any_client, name))
    assert body["Arn"] == ks.secret_arn(name)
    assert body["SecretName"] == name
    assert body["SecretType"] == "Generic"
    assert body["Description"] == "my description"
    assert body["EncryptionKeyId"]
    assert body["AutomaticRotation"] == "Disabled"
    created = ks.parse_time(body["CreateTime"])
    updated = ks.parse_time(body["UpdateTime"])
    assert updated >= created
    assert not body.get("PlannedDeleteTime")
    assert "Code" not in body
    assert "s3cr3t" not in json.dumps(body)


def test_describe_secret_with_fetch_tags_returns_tag_list(kms_client, unique_name):
    name = unique_name()
    tags = [{"TagKey": "env", "TagValue": "test"}, {"TagKey": "team", "TagValue": "infra"}]
    create_secret(kms_client, name, tags=json.dumps(tags))
    body = ks.body_map(describe_secret(kms_client, name, fetch_tags="true"))
    got = sorted((t["TagKey"], t["TagValue"]) for t in body["Tags"]["Tag"])
    assert got == [("env", "test"), ("team", "infra")]


def test_describe_secret_by_arn_works(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    assert ks.body_map(describe_secret(kms_client, ks.secret_arn(name)))["SecretName"] == name


def test_describe_rds_secret_shows_rotation_and_extended_config(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data=ks.RDS_SECRET_DATA, secret_type="Rds",
                  extended_config=dict(ks.RDS_EXTENDED_CONFIG), enable_automatic_rotation=True,
                  rotation_interval="30d")
    body = ks.body_map(describe_secret(kms_client, name))
    assert body["SecretType"] == "Rds"
    assert body["AutomaticRotation"] == "Enabled"
    assert body["RotationInterval"] == "2592000s"
    ks.parse_time(body["NextRotationDate"])
    assert json.loads(body["ExtendedConfig"])["DBInstanceId"] == ks.RDS_EXTENDED_CONFIG["DBInstanceId"]


def test_describe_unknown_secret_is_not_found(any_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        describe_secret(any_client, unique_name("never-created"))


# ---- PutSecretValue --------------------------------------------------------------------------


def test_put_secret_value_makes_new_version_current_and_old_previous(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, data="one", version_id="v1")
    body = ks.body_map(put_secret_value(any_client, name, "v2", "two"))
    assert body["SecretName"] == name
    assert body["VersionId"] == "v2"
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    cur = ks.body_map(get_secret_value(any_client, name))
    assert (cur["VersionId"], cur["SecretData"]) == ("v2", "two")
    prev = ks.body_map(get_secret_value(any_client, name, version_stage="ACSPrevious"))
    assert (prev["VersionId"], prev["SecretData"]) == ("v1", "one")


def test_put_secret_value_by_arn_works(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one")
    put_secret_value(kms_client, ks.secret_arn(name), "v2", "two")
    assert ks.body_map(get_secret_value(kms_client, name))["SecretData"] == "two"


def test_put_secret_value_third_version_leaves_first_without_stage(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    put_secret_value(kms_client, name, "v3", "three")
    assert stages_by_version(list_versions(kms_client, name, "true")) == {
        "v1": [], "v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}
    assert ks.body_map(get_secret_value(kms_client, name, version_id="v1"))["SecretData"] == "one"


def test_put_secret_value_same_version_same_data_is_idempotent(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    body = ks.body_map(put_secret_value(kms_client, name, "v2", "two"))
    assert body["VersionId"] == "v2"
    assert stages_by_version(list_versions(kms_client, name, "true")) == {
        "v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}


def test_put_secret_value_same_version_different_data_is_rejected(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    with expect_error(None, ks.CLIENT_4XX) as err:
        put_secret_value(kms_client, name, "v2", "changed")
    assert err.code, "rejection must carry an error Code"
    for vid, data in (("v2", "two"), ("v1", "one")):
        assert ks.body_map(get_secret_value(kms_client, name, version_id=vid))["SecretData"] == data
    assert ks.body_map(get_secret_value(kms_client, name))["VersionId"] == "v2"


def test_put_secret_value_on_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        put_secret_value(kms_client, unique_name("never-created"), "v2", "x")


def test_put_secret_value_rejects_data_over_30720_bytes(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one")
    with expect_error("InvalidParameter", 400):
        put_secret_value(kms_client, name, "v2", "d" * 30721)
    assert ks.body_map(get_secret_value(kms_client, name))["VersionId"] == "v1"


def test_put_secret_value_with_custom_stage_adds_label(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two", version_stages='["ACSCurrent","blue"]')
    assert ks.body_map(get_secret_value(kms_client, name, version_stage="blue"))["VersionId"] == "v2"


# ---- ListSecretVersionIds --------------------------------------------------------------------


def test_list_secret_version_ids_nests_versions_and_stages(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, data="one", version_id="v1")
    put_secret_value(any_client, name, "v2", "two")
    body = list_versions(any_client, name)
    assert body["SecretName"] == name
    assert body["TotalCount"] == 2
    versions = body["VersionIds"]["VersionId"]
    assert isinstance(versions, list) and len(versions) == 2
    for v in versions:
        ks.parse_time(v["CreateTime"])
        assert isinstance(v["VersionStages"]["VersionStage"], list)
    assert stages_by_version(body) == {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}


def test_list_secret_version_ids_hides_deprecated_unless_asked(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    put_secret_value(kms_client, name, "v3", "three")
    default = list_versions(kms_client, name)
    assert sorted(stages_by_version(default)) == ["v2", "v3"]
    assert default["TotalCount"] == 2
    explicit_false = list_versions(kms_client, name, "false")
    assert sorted(stages_by_version(explicit_false)) == ["v2", "v3"]
    everything = list_versions(kms_client, name, "true")
    assert sorted(stages_by_version(everything)) == ["v1", "v2", "v3"]
    assert everything["TotalCount"] == 3


def test_list_secret_version_ids_of_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        list_versions(kms_client, unique_name("never-created"))


# ---- DeleteSecret ----------------------------------------------------------------------------


def test_delete_secret_with_recovery_window_schedules_deletion(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, data="doomed")
    before = ks.utcnow()
    body = ks.body_map(delete_secret(any_client, name, recovery_window_in_days="7"))
    after = ks.utcnow()
    assert body["SecretName"] == name
    planned = ks.parse_time(body["PlannedDeleteTime"])
    slack = datetime.timedelta(seconds=120)
    assert before + datetime.timedelta(days=7) - slack <= planned <= after + datetime.timedelta(days=7) + slack


def test_secret_pending_deletion_cannot_be_read(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="doomed")
    delete_secret(kms_client, name, recovery_window_in_days="7")
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        get_secret_value(kms_client, name)


def test_secret_pending_deletion_is_still_described_with_planned_delete_time(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="doomed")
    planned = ks.body_map(delete_secret(kms_client, name, recovery_window_in_days="10"))["PlannedDeleteTime"]
    body = ks.body_map(describe_secret(kms_client, name))
    assert body["SecretName"] == name
    assert body["PlannedDeleteTime"] == planned


def test_create_secret_with_name_pending_deletion_is_rejected(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="doomed")
    delete_secret(kms_client, name, recovery_window_in_days="7")
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        create_secret(kms_client, name, data="new")


def test_put_secret_value_on_secret_pending_deletion_is_rejected(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="doomed")
    delete_secret(kms_client, name, recovery_window_in_days="7")
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        put_secret_value(kms_client, name, "v2", "new")


def test_delete_secret_without_window_defaults_to_30_days(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    before = ks.utcnow()
    planned = ks.parse_time(ks.body_map(delete_secret(kms_client, name))["PlannedDeleteTime"])
    delta = planned - before
    assert datetime.timedelta(days=30) - datetime.timedelta(seconds=120) <= delta
    assert delta <= datetime.timedelta(days=30, seconds=120)


def test_force_delete_frees_the_name_immediately(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, data="old")
    body = ks.body_map(delete_secret(any_client, name, force_delete_without_recovery="true"))
    assert body["SecretName"] == name
    ks.assert_secret_absent(any_client, name)
    create_secret(any_client, name, data="new", version_id="fresh")
    got = ks.body_map(get_secret_value(any_client, name))
    assert (got["SecretData"], got["VersionId"]) == ("new", "fresh")
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(any_client, name, version_id="v1")


def test_delete_unknown_secret_is_not_found(kms_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        delete_secret(kms_client, unique_name("never-created"))


def test_second_delete_of_a_pending_secret_is_refused_and_keeps_the_first_planned_time(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    first = ks.body_map(delete_secret(kms_client, name, recovery_window_in_days="7"))
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        delete_secret(kms_client, name, recovery_window_in_days="30")
    assert ks.body_map(describe_secret(kms_client, name))["PlannedDeleteTime"] == first["PlannedDeleteTime"]


def test_force_delete_of_a_pending_secret_purges_it(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    delete_secret(kms_client, name, recovery_window_in_days="7")
    delete_secret(kms_client, name, force_delete_without_recovery="true")
    ks.assert_secret_absent(kms_client, name)


def test_force_delete_together_with_a_recovery_window_is_invalid_and_changes_nothing(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    with expect_error("InvalidParameter", 400):
        delete_secret(kms_client, name, force_delete_without_recovery="true", recovery_window_in_days="7")
    assert ks.body_map(get_secret_value(kms_client, name))["SecretData"] == "s3cr3t"


def test_recovery_window_outside_7_to_30_days_is_invalid(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    for days in ("6", "31"):
        with expect_error("InvalidParameter", 400):
            delete_secret(kms_client, name, recovery_window_in_days=days)
    assert not ks.body_map(describe_secret(kms_client, name)).get("PlannedDeleteTime")
