"""ListKmsInstances, GetKmsInstance, DescribeAccountKmsStatus (kms-api.md 3.5)."""
import json

import kms_support as ks
from kms_support import create_secret, expect_error


def list_instances(client, **kwargs):
    return ks.body_map(client.list_kms_instances(ks.models().ListKmsInstancesRequest(**kwargs)))


def test_list_kms_instances_shows_the_default_instance_with_its_arn(any_client):
    body = list_instances(any_client)
    assert body["TotalCount"] == 1 and body["PageNumber"] == 1 and body["PageSize"] == 20
    inst = body["KmsInstances"]["KmsInstance"][0]
    assert inst["KmsInstanceId"].startswith("kst-hzz")
    assert inst["KmsInstanceArn"] == "acs:kms:cn-hangzhou:1234567890123456:instance/" + inst["KmsInstanceId"]


def test_secret_created_in_the_instance_counts_in_get_kms_instance(kms_client, unique_name):
    iid = list_instances(kms_client)["KmsInstances"]["KmsInstance"][0]["KmsInstanceId"]
    before = ks.body_map(kms_client.get_kms_instance(ks.models().GetKmsInstanceRequest(kms_instance_id=iid)))
    create_secret(kms_client, unique_name(), dkmsinstance_id=iid)
    after = ks.body_map(kms_client.get_kms_instance(ks.models().GetKmsInstanceRequest(kms_instance_id=iid)))
    assert after["KmsInstance"]["InstanceId"] == iid
    assert int(after["KmsInstance"]["SecretNum"]) == int(before["KmsInstance"]["SecretNum"]) + 1


def test_list_kms_instances_filters_by_id_and_rejects_other_keys(kms_client):
    iid = list_instances(kms_client)["KmsInstances"]["KmsInstance"][0]["KmsInstanceId"]
    hit = list_instances(kms_client, filters=json.dumps([{"Key": "KmsInstanceId", "Values": [iid]}]))
    assert hit["TotalCount"] == 1
    miss = list_instances(kms_client, filters=json.dumps([{"Key": "KmsInstanceId", "Values": ["kst-none"]}]))
    assert miss["TotalCount"] == 0 and miss["KmsInstances"]["KmsInstance"] == []
    with expect_error("InvalidParameter", 400):
        list_instances(kms_client, filters=json.dumps([{"Key": "VpcId", "Values": ["x"]}]))


def test_get_unknown_kms_instance_is_dkms_instance_not_found(kms_client):
    with expect_error("Forbidden.DKMSInstanceNotFound", 403):
        kms_client.get_kms_instance(ks.models().GetKmsInstanceRequest(kms_instance_id="kst-hzz000000000000000000"))


def test_account_kms_status_is_enabled(kms_client):
    body = ks.body_map(kms_client.describe_account_kms_status())
    assert body["AccountStatus"] == "Enabled"
