"""CreateAlias, UpdateAlias, DeleteAlias, ListAliases, ListAliasesByKeyId, and alias / ARN
resolution wherever a KeyId is accepted (kms-api.md 3.4, 5)."""
import pytest

import kms_support as ks
from kms_support import (LegacyKms, create_alias, create_key, describe_key, expect_error,
                         schedule_key_deletion, unique_alias)

req = LegacyKms.request


def m():
    return ks.models()


def update_alias(client, alias_name, key_id):
    return client.update_alias(m().UpdateAliasRequest(alias_name=alias_name, key_id=key_id))


def delete_alias(client, alias_name):
    return client.delete_alias(m().DeleteAliasRequest(alias_name=alias_name))


def list_aliases(client, **kwargs):
    return ks.body_map(client.list_aliases(m().ListAliasesRequest(**kwargs)))


def list_by_key(client, key_id, **kwargs):
    return ks.body_map(client.list_aliases_by_key_id(m().ListAliasesByKeyIdRequest(key_id=key_id, **kwargs)))


def test_alias_names_the_key_in_describe_key(any_client):
    key_id = create_key(any_client)["KeyId"]
    alias = unique_alias()
    create_alias(any_client, alias, key_id)
    assert describe_key(any_client, alias)["KeyId"] == key_id
    assert describe_key(any_client, ks.alias_arn(alias))["KeyId"] == key_id


def test_create_alias_with_key_given_by_arn_or_alias(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    a, b = unique_alias(), unique_alias()
    create_alias(kms_client, a, ks.key_arn(key_id))
    create_alias(kms_client, b, a)
    assert {x["AliasName"] for x in list_by_key(kms_client, key_id)["Aliases"]["Alias"]} == {a, b}


def test_create_alias_twice_is_alias_already_exists(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    alias = unique_alias()
    create_alias(kms_client, alias, key_id)
    other = create_key(kms_client)["KeyId"]
    with expect_error("AliasAlreadyExists", 400):
        create_alias(kms_client, alias, other)
    assert describe_key(kms_client, alias)["KeyId"] == key_id


@pytest.mark.parametrize("alias", ["demo", "alias/", "alias/acs-reserved", "alias/acs",
                                   "alias/has space", "alias/" + "a" * 250])
def test_create_alias_rejects_bad_names(kms_client, alias):
    key_id = create_key(kms_client)["KeyId"]
    with expect_error("InvalidParameter", 400):
        create_alias(kms_client, alias, key_id)


def test_alias_of_255_characters_is_accepted(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    alias = "alias/" + ks.uuid.uuid4().hex + "a" * (249 - 32)
    assert len(alias) == 255
    create_alias(kms_client, alias, key_id)
    assert describe_key(kms_client, alias)["KeyId"] == key_id


def test_create_alias_errors_on_key(kms_client, unique_name):
    with expect_error("Forbidden.KeyNotFound", 404):
        create_alias(kms_client, unique_alias(), ks.UNKNOWN_KEY_ID)
    pending = create_key(kms_client)["KeyId"]
    schedule_key_deletion(kms_client, pending)
    with expect_error("Rejected.PendingDeletion", 409):
        create_alias(kms_client, unique_alias(), pending)
    name = unique_name()
    ks.create_secret(kms_client, name)
    service_key = ks.body_map(ks.describe_secret(kms_client, name))["EncryptionKeyId"]
    with expect_error("Forbidden.NoPermission", 403):
        create_alias(kms_client, unique_alias(), service_key)


def test_update_alias_moves_it_to_another_key(any_client):
    a = create_key(any_client)["KeyId"]
    b = create_key(any_client)["KeyId"]
    alias = unique_alias()
    create_alias(any_client, alias, a)
    update_alias(any_client, alias, b)
    assert describe_key(any_client, alias)["KeyId"] == b
    assert list_by_key(any_client, a)["TotalCount"] == 0
    assert list_by_key(any_client, b)["Aliases"]["Alias"][0]["AliasName"] == alias


def test_update_alias_errors(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    with expect_error("Forbidden.AliasNotFound", 404):
        update_alias(kms_client, unique_alias(), key_id)
    alias = unique_alias()
    create_alias(kms_client, alias, key_id)
    with expect_error("Forbidden.KeyNotFound", 404):
        update_alias(kms_client, alias, ks.UNKNOWN_KEY_ID)
    with expect_error("InvalidParameter", 400):
        update_alias(kms_client, "not-an-alias", key_id)


def test_delete_alias(any_client):
    key_id = create_key(any_client)["KeyId"]
    alias = unique_alias()
    create_alias(any_client, alias, key_id)
    delete_alias(any_client, alias)
    with expect_error("Forbidden.KeyNotFound", 404):
        describe_key(any_client, alias)
    with expect_error("Forbidden.AliasNotFound", 404):
        delete_alias(any_client, alias)
    # the key itself is untouched, and the name can be reused
    assert describe_key(any_client, key_id)["KeyState"] == "Enabled"
    create_alias(any_client, alias, key_id)


def test_list_aliases_pages_by_name_with_arns(fresh_server):
    srv = fresh_server()
    c = srv.client()
    assert list_aliases(c)["TotalCount"] == 0
    k1 = create_key(c)["KeyId"]
    k2 = create_key(c)["KeyId"]
    names = ["alias/c", "alias/a", "alias/b/x"]
    create_alias(c, names[0], k1)
    create_alias(c, names[1], k2)
    create_alias(c, names[2], k1)
    body = list_aliases(c, page_number=1, page_size=2)
    assert body["TotalCount"] == 3 and body["PageNumber"] == 1 and body["PageSize"] == 2
    assert body["Aliases"]["Alias"] == [
        {"AliasName": "alias/a", "AliasArn": ks.alias_arn("alias/a"), "KeyId": k2},
        {"AliasName": "alias/b/x", "AliasArn": ks.alias_arn("alias/b/x"), "KeyId": k1},
    ]
    assert [a["AliasName"] for a in list_aliases(c, page_number=2, page_size=2)["Aliases"]["Alias"]] == ["alias/c"]
    assert list_aliases(c)["PageSize"] == 10
    by_key = list_by_key(c, k1)
    assert by_key["TotalCount"] == 2
    assert [a["AliasName"] for a in by_key["Aliases"]["Alias"]] == ["alias/b/x", "alias/c"]
    assert list_by_key(c, "alias/a")["Aliases"]["Alias"][0]["KeyId"] == k2
    srv.restart()
    assert list_aliases(srv.client())["TotalCount"] == 3


def test_list_aliases_errors(kms_client):
    with expect_error("InvalidParameter", 400):
        list_aliases(kms_client, page_size=101)
    with expect_error("InvalidParameter", 400):
        list_aliases(kms_client, page_number=0)
    with expect_error("Forbidden.KeyNotFound", 404):
        list_by_key(kms_client, ks.UNKNOWN_KEY_ID)


def test_legacy_sdk_alias_round_trip(legacy_client):
    key_id = legacy_client.call(req("CreateKey"))["KeyMetadata"]["KeyId"]
    alias = unique_alias()
    legacy_client.call(req("CreateAlias", AliasName=alias, KeyId=key_id))
    body = legacy_client.call(req("ListAliasesByKeyId", KeyId=key_id))
    assert body["Aliases"]["Alias"][0]["AliasArn"] == ks.alias_arn(alias)
    legacy_client.call(req("DeleteAlias", AliasName=alias))


def test_key_actions_accept_aliases(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    alias = unique_alias()
    create_alias(kms_client, alias, key_id)
    ks.disable_key(kms_client, alias)
    assert describe_key(kms_client, key_id)["KeyState"] == "Disabled"
    ks.enable_key(kms_client, ks.alias_arn(alias))
    kms_client.update_key_description(m().UpdateKeyDescriptionRequest(key_id=alias, description="via alias"))
    assert describe_key(kms_client, key_id)["Description"] == "via alias"
    schedule_key_deletion(kms_client, alias)
    ks.cancel_key_deletion(kms_client, alias)
    assert describe_key(kms_client, key_id)["KeyState"] == "Enabled"
