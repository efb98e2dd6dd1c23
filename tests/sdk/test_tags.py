"""Tag actions on secrets (kms-api.md 3.2) through the generated SDK and the legacy SDK."""
import json

import kms_support as ks
from kms_support import create_secret, describe_secret, expect_error


def tags_of(client, name):
    body = ks.body_map(describe_secret(client, name, fetch_tags="true"))
    return sorted((t["TagKey"], t["TagValue"]) for t in body["Tags"]["Tag"])


def tag_resource(client, name, tags):
    return client.tag_resource(ks.models().TagResourceRequest(secret_name=name, tags=json.dumps(tags)))


def test_tag_resource_adds_and_overwrites_tags(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, tags=json.dumps([{"TagKey": "env", "TagValue": "dev"}]))
    tag_resource(any_client, name, [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "a"}])
    assert tags_of(any_client, name) == [("env", "prod"), ("team", "a")]


def test_untag_resource_accepts_json_array_and_comma_list(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, tags=json.dumps([{"TagKey": k, "TagValue": "v"} for k in ("a", "b", "c")]))
    m = ks.models()
    kms_client.untag_resource(m.UntagResourceRequest(secret_name=name, tag_keys='["a"]'))
    kms_client.untag_resource(m.UntagResourceRequest(secret_name=name, tag_keys="b,missing"))
    assert tags_of(kms_client, name) == [("c", "v")]


def test_tag_resource_rejects_more_than_twenty_tags_in_total_and_changes_nothing(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, tags=json.dumps([{"TagKey": f"k{i}", "TagValue": "v"} for i in range(15)]))
    with expect_error("InvalidParameter", 400):
        tag_resource(kms_client, name, [{"TagKey": f"n{i}", "TagValue": "v"} for i in range(6)])
    assert len(tags_of(kms_client, name)) == 15


def test_tag_resource_rejects_reserved_prefix_and_unknown_secret(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    with expect_error("InvalidParameter", 400):
        tag_resource(kms_client, name, [{"TagKey": "acs:x", "TagValue": "v"}])
    with expect_error("Forbidden.ResourceNotFound", 404):
        tag_resource(kms_client, unique_name(), [{"TagKey": "a", "TagValue": "v"}])


def test_tag_resources_tags_every_secret_or_none(kms_client, unique_name):
    a, b = unique_name(), unique_name()
    create_secret(kms_client, a)
    create_secret(kms_client, b)
    m = ks.models()
    tag = [m.TagResourcesRequestTag(key="k1", value="v1"), m.TagResourcesRequestTag(key="k2", value="v2")]
    kms_client.tag_resources(m.TagResourcesRequest(region_id="cn-hangzhou", resource_type="secret",
                                                   resource_id=[a, b], tag=tag))
    assert tags_of(kms_client, a) == tags_of(kms_client, b) == [("k1", "v1"), ("k2", "v2")]
    with expect_error("Forbidden.ResourceNotFound", 404):
        kms_client.tag_resources(m.TagResourcesRequest(region_id="cn-hangzhou", resource_type="secret",
                                                       resource_id=[a, unique_name()],
                                                       tag=[m.TagResourcesRequestTag(key="k3", value="v")]))
    assert tags_of(kms_client, a) == [("k1", "v1"), ("k2", "v2")]


def test_untag_resources_removes_keys_or_all(kms_client, unique_name):
    a, b = unique_name(), unique_name()
    tags = json.dumps([{"TagKey": "x", "TagValue": "1"}, {"TagKey": "y", "TagValue": "2"}])
    create_secret(kms_client, a, tags=tags)
    create_secret(kms_client, b, tags=tags)
    m = ks.models()
    kms_client.untag_resources(m.UntagResourcesRequest(region_id="cn-hangzhou", resource_type="secret",
                                                       resource_id=[a], tag_key=["x"]))
    assert tags_of(kms_client, a) == [("y", "2")]
    kms_client.untag_resources(m.UntagResourcesRequest(region_id="cn-hangzhou", resource_type="secret",
                                                       resource_id=[b], all=True))
    assert tags_of(kms_client, b) == []


def test_list_tag_resources_lists_rows_of_given_secrets_and_filters_by_tag(kms_client, unique_name):
    a, b = unique_name(), unique_name()
    create_secret(kms_client, a, tags=json.dumps([{"TagKey": "k1", "TagValue": "v1"}, {"TagKey": "k2", "TagValue": "v2"}]))
    create_secret(kms_client, b, tags=json.dumps([{"TagKey": "k1", "TagValue": "other"}]))
    m = ks.models()
    body = ks.body_map(kms_client.list_tag_resources(m.ListTagResourcesRequest(
        region_id="cn-hangzhou", resource_type="secret", resource_id=[a, b])))
    rows = sorted((r["ResourceId"], r["TagKey"], r["TagValue"]) for r in body["TagResources"]["TagResource"])
    assert rows == sorted([(a, "k1", "v1"), (a, "k2", "v2"), (b, "k1", "other")])
    assert all(r["ResourceType"] == "secret" for r in body["TagResources"]["TagResource"])
    assert not body.get("NextToken")
    body = ks.body_map(kms_client.list_tag_resources(m.ListTagResourcesRequest(
        region_id="cn-hangzhou", resource_type="secret", resource_id=[a, b],
        tag=[m.ListTagResourcesRequestTag(key="k1", value="v1")])))
    assert [(r["ResourceId"], r["TagKey"]) for r in body["TagResources"]["TagResource"]] == [(a, "k1")]


def test_list_tag_resources_rejects_other_region_and_resource_type(kms_client):
    m = ks.models()
    with expect_error("InvalidParameter", 400):
        kms_client.list_tag_resources(m.ListTagResourcesRequest(region_id="cn-beijing", resource_type="secret"))
    with expect_error("InvalidParameter", 400):
        kms_client.list_tag_resources(m.ListTagResourcesRequest(region_id="cn-hangzhou", resource_type="bucket"))


def test_tag_writes_on_a_secret_pending_deletion_are_refused(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    kms_client.delete_secret(ks.models().DeleteSecretRequest(secret_name=name))
    with expect_error("Rejected.ResourceInDeleteWindow", 409):
        tag_resource(kms_client, name, [{"TagKey": "a", "TagValue": "b"}])


def test_list_resource_tags_of_unknown_key_is_not_found(kms_client):
    with expect_error("Forbidden.KeyNotFound", 404):
        kms_client.list_resource_tags(ks.models().ListResourceTagsRequest(key_id="key-hzz00000000000000000000"))
