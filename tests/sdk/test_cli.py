"""The `openkms` client subcommands against the real server: create a user with an access key,
attach a policy, assume a role, get a secret, all through the project's own signer."""
import json
import os
import subprocess
import uuid

import kms_support as ks
from conftest import openkms_binary


def cli(server, *args, ak=None, sk=None, token=None, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "OPENKMS_"))}
    env["OPENKMS_ENDPOINT"] = server.endpoint
    env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = ak or server.access_key_id
    env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = sk or server.access_key_secret
    if token:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = token
    done = subprocess.run([str(openkms_binary()), *args], env=env, capture_output=True, text=True, timeout=30)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_operator_tasks_without_an_sdk(server, kms_client):
    secret = "app/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, secret, data="from-cli")
    user = "cli-" + uuid.uuid4().hex[:12]
    lines = cli(server, "create-user", user, "--with-access-key").stdout.strip().splitlines()
    assert json.loads(lines[0])["User"]["UserName"] == user
    key = json.loads(lines[1])["AccessKey"]

    refused = cli(server, "get-secret", secret, ak=key["AccessKeyId"], sk=key["AccessKeySecret"], check=False)
    assert refused.returncode != 0 and "Forbidden.NoPermission" in refused.stderr

    policy = "cli-" + uuid.uuid4().hex[:12]
    document = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": "acs:kms:*:*:secret/app/*"},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    cli(server, "call", "ram", "CreatePolicy", "PolicyName=" + policy, "PolicyDocument=" + document)
    cli(server, "attach-policy", "--user", user, "--policy", policy)
    got = cli(server, "get-secret", secret, ak=key["AccessKeyId"], sk=key["AccessKeySecret"])
    assert got.stdout.strip() == "from-cli"

    role = "cli-" + uuid.uuid4().hex[:12]
    trust = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": "acs:ram::%s:root" % ks.ACCOUNT_ID}}]})
    cli(server, "call", "ram", "CreateRole", "RoleName=" + role, "AssumeRolePolicyDocument=" + trust)
    cli(server, "call", "ram", "AttachPolicyToRole", "RoleName=" + role, "PolicyType=Custom", "PolicyName=" + policy)
    creds = json.loads(cli(server, "assume-role", "--role-arn", "acs:ram::%s:role/%s" % (ks.ACCOUNT_ID, role),
                           "--session-name", "cli-session", ak=key["AccessKeyId"],
                           sk=key["AccessKeySecret"]).stdout)["Credentials"]
    got = cli(server, "get-secret", secret, ak=creds["AccessKeyId"], sk=creds["AccessKeySecret"],
              token=creds["SecurityToken"])
    assert got.stdout.strip() == "from-cli"
    who = json.loads(cli(server, "call", "sts", "GetCallerIdentity", ak=creds["AccessKeyId"],
                         sk=creds["AccessKeySecret"], token=creds["SecurityToken"]).stdout)
    assert who["IdentityType"] == "AssumedRoleUser"


def test_missing_credentials_are_named(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    env["OPENKMS_ENDPOINT"] = server.endpoint
    done = subprocess.run([str(openkms_binary()), "get-secret", "x"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0 and "ALIBABA_CLOUD_ACCESS_KEY_ID" in done.stderr
