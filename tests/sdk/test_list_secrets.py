"""ListSecrets: paging, FetchTags, Filters (kms-api.md 3.1; matching rule in crates/domain/src/filters.rs)."""
import json

import kms_support as ks
from kms_support import create_secret, expect_error


def list_secrets(client, **kwargs):
    return ks.body_map(client.list_secrets(ks.models().ListSecretsRequest(**kwargs)))


def names(body):
    return [s["SecretName"] for s in body["SecretList"]["Secret"]]


def name_filter(*values):
    return json.dumps([{"Key": "SecretName", "Values": list(values)}])


def test_list_secrets_pages_through_matching_secrets_in_creation_order(any_client, unique_name):
    prefix = unique_name()
    created = [f"{prefix}-{i}" for i in range(5)]
    for n in created:
        create_secret(any_client, n)
    first = list_secrets(any_client, page_number=1, page_size=2, filters=name_filter(prefix))
    assert first["TotalCount"] == 5
    assert first["PageNumber"] == 1 and first["PageSize"] == 2
    assert names(first) == created[:2]
    last = list_secrets(any_client, page_number=3, page_size=2, filters=name_filter(prefix))
    assert names(last) == created[4:]
    beyond = list_secrets(any_client, page_number=4, page_size=2, filters=name_filter(prefix))
    assert names(beyond) == [] and beyond["TotalCount"] == 5


def test_list_secrets_item_fields_and_tags_only_when_fetched(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, tags=json.dumps([{"TagKey": "env", "TagValue": "prod"}]))
    plain = list_secrets(kms_client, filters=name_filter(name))["SecretList"]["Secret"][0]
    assert plain["SecretName"] == name and plain["SecretType"] == "Generic"
    ks.parse_time(plain["CreateTime"]), ks.parse_time(plain["UpdateTime"])
    assert "Tags" not in plain
    tagged = list_secrets(kms_client, filters=name_filter(name), fetch_tags="true")["SecretList"]["Secret"][0]
    assert tagged["Tags"]["Tag"] == [{"TagKey": "env", "TagValue": "prod"}]


def test_list_secrets_filters_by_tag_and_ands_keys(kms_client, unique_name):
    prefix = unique_name()
    tag_key = "team-" + prefix[-8:]
    create_secret(kms_client, prefix + "-a", tags=json.dumps([{"TagKey": tag_key, "TagValue": "x"}]))
    create_secret(kms_client, prefix + "-b", tags=json.dumps([{"TagKey": tag_key, "TagValue": "y"}]))
    create_secret(kms_client, prefix + "-c")
    by_key = list_secrets(kms_client, filters=json.dumps([{"Key": "TagKey", "Values": [tag_key]}]))
    assert sorted(names(by_key)) == [prefix + "-a", prefix + "-b"]
    both = list_secrets(kms_client, filters=json.dumps([
        {"Key": "TagKey", "Values": [tag_key]}, {"Key": "TagValue", "Values": ["y"]}]))
    assert names(both) == [prefix + "-b"]


def test_list_secrets_lists_pending_deletion_secrets_with_planned_delete_time(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    kms_client.delete_secret(ks.models().DeleteSecretRequest(secret_name=name, recovery_window_in_days="7"))
    item = list_secrets(kms_client, filters=name_filter(name))["SecretList"]["Secret"][0]
    assert ks.parse_time(item["PlannedDeleteTime"]) > ks.utcnow()


def test_list_secrets_rejects_bad_page_size_and_filters(kms_client):
    with expect_error("InvalidParameter", 400):
        list_secrets(kms_client, page_size=101)
    with expect_error("InvalidParameter", 400):
        list_secrets(kms_client, filters="not json")
    with expect_error("InvalidParameter", 400):
        list_secrets(kms_client, filters=json.dumps([{"Key": "Colour", "Values": ["red"]}]))
