"""Creates the RAM user `bench` with an access key and an attached policy that allows
GetSecretValue on secret/bench* (plus a Deny with an IP condition that never matches, so the
decision evaluates a condition); prints "<AccessKeyId> <AccessKeySecret>".
Usage: python policy_user.py HOST:PORT   (root key benchAK/benchSecret, as scripts/bench-authz starts)"""
import json
import sys

from alibabacloud_ram20150501.client import Client
from alibabacloud_ram20150501 import models as m
from alibabacloud_tea_openapi import models as om
ep = sys.argv[1]
c = Client(om.Config(access_key_id="benchAK", access_key_secret="benchSecret", endpoint=ep, protocol="http", region_id="cn-hangzhou"))
c.create_user(m.CreateUserRequest(user_name="bench"))
k = c.create_access_key(m.CreateAccessKeyRequest(user_name="bench")).body.access_key
doc = json.dumps({"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": ["kms:GetSecretValue"], "Resource": ["acs:kms:*:*:secret/bench*"]},
    {"Effect": "Deny", "Action": ["kms:GetSecretValue"], "Resource": ["acs:kms:*:*:secret/other*"],
     "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}]})
c.create_policy(m.CreatePolicyRequest(policy_name="bench-read", policy_document=doc))
c.attach_policy_to_user(m.AttachPolicyToUserRequest(policy_type="Custom", policy_name="bench-read", user_name="bench"))
print(k.access_key_id, k.access_key_secret)
