"""Attacks on authorization from outside, through the official SDK (or a raw signed request where no
SDK can express the shape): each one succeeded against an earlier openkms (issue 12).

- UpdateAlias checked only the new key: a user with rights on her own key moved `alias/prod` onto it.
- CreateAlias / DeleteAlias did not check the key the alias names.
- TagResource with `SecretName=` (empty) plus `KeyId` was authorized as a secret and run on the key,
  skipping an explicit Deny on the key.
- A flattened EncryptionContext (`EncryptionContext.app=c5`, as @alicloud/kms20160120 1.2.0 sends it)
  was dropped, so the ciphertext bound no context.
- The CLI sent SecretData in the URL.
Plus the threat model's probes: a policy on a neighbouring resource, a resource named by alias, by the
ARN of another account or region, in another case.
"""
import base64
import json
import os
import socket
import subprocess
import threading
import uuid

import pytest

import kms_support as ks
from conftest import openkms_binary
from test_authorization import User, allow, forbidden
from test_ram import ram_client


@pytest.fixture
def ram(server):
    return ram_client(server)


def deny(actions, resources):
    return {"Effect": "Deny", "Action": actions, "Resource": resources}


def new_key(kms_client):
    return ks.create_key(kms_client)["KeyId"]


def encrypt(client, key_id, data=b"payload", context=None):
    req = ks.models().EncryptRequest(key_id=key_id, plaintext=base64.b64encode(data).decode())
    if context is not None:
        req.encryption_context = context
    return client.encrypt(req).body


def decrypt(client, blob, context=None):
    req = ks.models().DecryptRequest(ciphertext_blob=blob)
    if context is not None:
        req.encryption_context = context
    return base64.b64decode(client.decrypt(req).body.plaintext)


def alias_key(kms_client, alias):
    aliases = kms_client.list_aliases(ks.models().ListAliasesRequest(page_size=100)).body.aliases.alias
    return next((a.key_id for a in aliases if a.alias_name == alias), None)


# ---- aliases ------------------------------------------------------------------------------------


def test_update_alias_cannot_move_an_alias_onto_her_own_key(server, kms_client, ram):
    prod_key, her_key = new_key(kms_client), new_key(kms_client)
    prod = ks.unique_alias("prod")
    ks.create_alias(kms_client, prod, prod_key)
    blob = encrypt(kms_client, prod, b"app data", {"app": "billing"}).ciphertext_blob

    # Every right on her own key, and even on the alias: not on the key the alias names.
    mallory = User(server, ram, [allow("kms:*", [ks.key_arn(her_key), ks.alias_arn(prod)])])
    with forbidden("kms:UpdateAlias", ks.key_arn(prod_key)):
        mallory.kms.update_alias(ks.models().UpdateAliasRequest(alias_name=prod, key_id=her_key))
    assert alias_key(kms_client, prod) == prod_key
    # Her own key alone does not let her touch the alias at all.
    owner_of_one_key = User(server, ram, [allow("kms:*", ks.key_arn(her_key))])
    with forbidden("kms:UpdateAlias", ks.alias_arn(prod)):
        owner_of_one_key.kms.update_alias(ks.models().UpdateAliasRequest(alias_name=prod, key_id=her_key))
    # The application's data stays out of her reach.
    with forbidden("kms:Decrypt", ks.key_arn(prod_key)):
        decrypt(mallory.kms, blob, {"app": "billing"})
    # The new key is checked too: rights on the alias and its key, none on the target.
    other = new_key(kms_client)
    keeper = User(server, ram, [allow("kms:UpdateAlias", [ks.alias_arn(prod), ks.key_arn(prod_key)])])
    with forbidden("kms:UpdateAlias", ks.key_arn(other)):
        keeper.kms.update_alias(ks.models().UpdateAliasRequest(alias_name=prod, key_id=other))
    # With rights on all three the move is allowed.
    admin = User(server, ram, [allow("kms:UpdateAlias", [ks.alias_arn(prod), ks.key_arn(prod_key),
                                                        ks.key_arn(her_key)])])
    admin.kms.update_alias(ks.models().UpdateAliasRequest(alias_name=prod, key_id=her_key))
    assert alias_key(kms_client, prod) == her_key


def test_create_and_delete_alias_need_rights_on_the_key(server, kms_client, ram):
    theirs, hers = new_key(kms_client), new_key(kms_client)
    user = User(server, ram, [allow(["kms:CreateAlias", "kms:DeleteAlias"],
                                    ["acs:kms:*:*:alias/*", ks.key_arn(hers)])])
    stolen = ks.unique_alias("stolen")
    with forbidden("kms:CreateAlias", ks.key_arn(theirs)):
        ks.create_alias(user.kms, stolen, theirs)
    assert alias_key(kms_client, stolen) is None
    mine = ks.unique_alias("mine")
    ks.create_alias(user.kms, mine, hers)

    prod = ks.unique_alias("prod")
    ks.create_alias(kms_client, prod, theirs)
    with forbidden("kms:DeleteAlias", ks.key_arn(theirs)):
        user.kms.delete_alias(ks.models().DeleteAliasRequest(alias_name=prod))
    assert alias_key(kms_client, prod) == theirs
    user.kms.delete_alias(ks.models().DeleteAliasRequest(alias_name=mine))
    assert alias_key(kms_client, mine) is None


def test_an_alias_is_used_with_the_rights_of_the_key_it_names(server, kms_client, ram):
    allowed, neighbour = new_key(kms_client), new_key(kms_client)
    to_neighbour = ks.unique_alias("neighbour")
    ks.create_alias(kms_client, to_neighbour, neighbour)
    user = User(server, ram, [allow(["kms:Encrypt", "kms:GenerateDataKey"], ks.key_arn(allowed))])
    encrypt(user.kms, allowed)
    with forbidden("kms:Encrypt", ks.key_arn(neighbour)):
        encrypt(user.kms, to_neighbour)
    with forbidden("kms:Encrypt", ks.key_arn(neighbour)):
        encrypt(user.kms, "acs:kms:%s:%s:%s" % (ks.REGION, ks.ACCOUNT_ID, to_neighbour))
    with forbidden("kms:GenerateDataKey", ks.key_arn(neighbour)):
        user.kms.generate_data_key(ks.models().GenerateDataKeyRequest(key_id=to_neighbour))
    # The neighbour's id in another case names no key: refused like any key out of scope.
    with forbidden("kms:Encrypt", ks.key_arn(neighbour.upper())):
        encrypt(user.kms, neighbour.upper())
    # The allowed key's id inside an ARN of another region or account is no key of this server.
    for arn in ("acs:kms:cn-shanghai:%s:key/%s" % (ks.ACCOUNT_ID, allowed),
                "acs:kms:%s:1111111111111111:key/%s" % (ks.REGION, allowed)):
        with ks.expect_error("Forbidden.NoPermission", 403):
            encrypt(user.kms, arn)
    wide = User(server, ram, [allow("kms:Encrypt", "acs:kms:*:*:key/%s" % allowed)])
    for arn in ("acs:kms:cn-shanghai:%s:key/%s" % (ks.ACCOUNT_ID, allowed),
                "acs:kms:%s:1111111111111111:key/%s" % (ks.REGION, allowed)):
        with ks.expect_error("Forbidden.KeyNotFound", 404):
            encrypt(wide.kms, arn)


def test_secret_under_an_aliased_key_checks_the_key_the_alias_names(server, kms_client, ram):
    allowed, neighbour = new_key(kms_client), new_key(kms_client)
    alias = ks.unique_alias("seal")
    ks.create_alias(kms_client, alias, neighbour)
    user = User(server, ram, [allow("kms:CreateSecret", "acs:kms:*:*:secret/app/*"),
                              allow("kms:GenerateDataKey", ks.key_arn(allowed))])
    name = "app/" + uuid.uuid4().hex[:12]
    with forbidden("kms:GenerateDataKey", ks.key_arn(neighbour)):
        ks.create_secret(user.kms, name, encryption_key_id=alias)
    ks.assert_secret_absent(kms_client, name)
    ks.create_secret(user.kms, name, encryption_key_id=allowed)
    assert ks.describe_secret(kms_client, name).body.encryption_key_id == allowed


def test_reading_and_writing_a_secret_needs_its_customer_key(server, kms_client, ram):
    key = new_key(kms_client)
    name = "app/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, name, data="v1-data", encryption_key_id=key)
    user = User(server, ram, [allow(["kms:GetSecretValue", "kms:PutSecretValue"], "acs:kms:*:*:secret/app/*")])
    with forbidden("kms:Decrypt", ks.key_arn(key)):
        ks.get_secret_value(user.kms, name)
    with forbidden("kms:GenerateDataKey", ks.key_arn(key)):
        ks.put_secret_value(user.kms, name, "v2", "new")
    # The secret's ARN instead of its name changes nothing.
    with forbidden("kms:Decrypt", ks.key_arn(key)):
        ks.get_secret_value(user.kms, ks.secret_arn(name))


# ---- one resource per tag call ------------------------------------------------------------------


def test_tag_resource_with_an_empty_secret_name_and_a_key_id_is_refused(server, kms_client, ram):
    key = new_key(kms_client)
    user = User(server, ram, [allow(["kms:TagResource", "kms:UntagResource"], "*"),
                              deny(["kms:TagResource", "kms:UntagResource"], ks.key_arn(key))])
    tags = json.dumps([{"TagKey": "owner", "TagValue": "mallory"}])
    with ks.expect_error("InvalidParameter", 400):
        user.kms.tag_resource(ks.models().TagResourceRequest(secret_name="", key_id=key, tags=tags))
    with ks.expect_error("InvalidParameter", 400):
        user.kms.untag_resource(ks.models().UntagResourceRequest(secret_name="", key_id=key, tag_keys='["a"]'))
    # The Deny on the key holds when the key is named alone.
    with forbidden("kms:TagResource", ks.key_arn(key)):
        user.kms.tag_resource(ks.models().TagResourceRequest(key_id=key, tags=tags))
    tags_now = kms_client.list_resource_tags(ks.models().ListResourceTagsRequest(key_id=key)).body.tags.tag
    assert tags_now == [] or tags_now is None


def test_tag_resource_with_two_resources_or_an_empty_one_is_refused(server, kms_client, ram):
    key = new_key(kms_client)
    name = "app/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, name)
    tags = json.dumps([{"TagKey": "k", "TagValue": "v"}])
    for req in (ks.models().TagResourceRequest(secret_name=name, key_id=key, tags=tags),
                ks.models().TagResourceRequest(key_id=key, certificate_id="", tags=tags)):
        with ks.expect_error("InvalidParameter", 400):
            kms_client.tag_resource(req)
    for req in (ks.models().TagResourceRequest(key_id="", tags=tags),
                ks.models().TagResourceRequest(secret_name="", tags=tags)):
        with ks.expect_error("MissingParameter", 400):
            kms_client.tag_resource(req)
    # An alias names its key for tags as everywhere else.
    alias = ks.unique_alias("tags")
    ks.create_alias(kms_client, alias, key)
    kms_client.tag_resource(ks.models().TagResourceRequest(key_id=alias, tags=tags))
    got = kms_client.list_resource_tags(ks.models().ListResourceTagsRequest(key_id=key)).body.tags.tag
    assert [(t.tag_key, t.tag_value) for t in got] == [("k", "v")]


# ---- flattened maps -----------------------------------------------------------------------------


def test_a_flattened_encryption_context_binds_like_the_json_one(server, raw, kms_client):
    key = new_key(kms_client)
    # @alicloud/kms20160120 1.2.0 (rpc-client) flattens the map into the query.
    resp = raw.v1("Encrypt", {"KeyId": key, "Plaintext": base64.b64encode(b"bound").decode(),
                              "EncryptionContext.app": "c5"})
    assert resp.status == 200, resp
    blob = resp.json()["CiphertextBlob"]
    assert decrypt(kms_client, blob, {"app": "c5"}) == b"bound"
    for wrong in (None, {"app": "c6"}, {}):
        with ks.expect_error("InvalidCiphertext", 400):
            decrypt(kms_client, blob, wrong)
    # And the other way round: a JSON-bound blob opens with the flattened form only.
    json_blob = encrypt(kms_client, key, b"json", {"app": "c5"}).ciphertext_blob
    resp = raw.v1("Decrypt", {"CiphertextBlob": json_blob, "EncryptionContext.app": "c5"})
    assert resp.status == 200 and base64.b64decode(resp.json()["Plaintext"]) == b"json", resp
    ks.assert_error_response(raw.v1("Decrypt", {"CiphertextBlob": json_blob, "EncryptionContext.app": "c6"}),
                             "InvalidCiphertext", 400)
    # GenerateDataKey reads the same map.
    resp = raw.v1("GenerateDataKey", {"KeyId": key, "EncryptionContext.app": "c5"})
    assert resp.status == 200, resp
    with ks.expect_error("InvalidCiphertext", 400):
        decrypt(kms_client, resp.json()["CiphertextBlob"])


def test_both_forms_of_a_map_at_once_are_refused(server, raw, kms_client):
    key = new_key(kms_client)
    resp = raw.v1("Encrypt", {"KeyId": key, "Plaintext": "aGk=", "EncryptionContext": '{"app":"c5"}',
                              "EncryptionContext.app": "c6"})
    ks.assert_error_response(resp, "InvalidParameter", 400)


def test_flattened_forms_that_are_not_read_are_refused_not_dropped(server, raw, kms_client):
    name = "app/" + uuid.uuid4().hex[:12]
    resp = raw.v1("CreateSecret", {"SecretName": name, "VersionId": "v1", "SecretData": "x",
                                   "Tags.1.TagKey": "env", "Tags.1.TagValue": "prod"})
    ks.assert_error_response(resp, "InvalidParameter", 400)
    ks.assert_secret_absent(kms_client, name)
    resp = raw.v1("CreateSecret", {"SecretName": name, "VersionId": "v1", "SecretData": "x",
                                   "Policy.Version": "1"})
    ks.assert_error_response(resp, "InvalidParameter", 400)
    ks.assert_secret_absent(kms_client, name)
    ks.assert_error_response(raw.v1("ListSecrets", {"Filters.1.Key": "SecretName", "Filters.1.Values.1": "x"}),
                             "InvalidParameter", 400)
    ks.assert_error_response(raw.v1("ListTagResources", {"RegionId": ks.REGION, "ResourceType": "secret",
                                                         "ResourceId": name}), "InvalidParameter", 400)


# ---- ReEncrypt stays out ------------------------------------------------------------------------


def test_re_encrypt_is_not_a_way_to_use_a_key(server, raw, kms_client):
    key = new_key(kms_client)
    blob = encrypt(kms_client, key).ciphertext_blob
    resp = raw.v3("ReEncrypt", {"CiphertextBlob": blob, "DestinationKeyId": key})
    ks.assert_error_response(resp, "UnsupportedOperation", 400)


# ---- the CLI keeps secrets out of URLs -----------------------------------------------------------


class CapturingProxy:
    """Accepts connections, records each request's head and body, forwards it to `upstream`."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.endpoint = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.requests.append((head, body))
                host, port = self.upstream.rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=30) as up:
                    up.sendall(head + b"\r\n\r\n" + body)
                    while True:
                        chunk = up.recv(65536)
                        if not chunk:
                            break
                        conn.sendall(chunk)

    def close(self):
        self.sock.close()


def test_the_cli_sends_secret_values_in_the_body_never_the_url(server, kms_client):
    proxy = CapturingProxy(server.endpoint)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "OPENKMS_"))}
        env.update(OPENKMS_ENDPOINT=proxy.endpoint, ALIBABA_CLOUD_ACCESS_KEY_ID=server.access_key_id,
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=server.access_key_secret)
        name = "app/" + uuid.uuid4().hex[:12]
        value = "hunter2-" + uuid.uuid4().hex
        done = subprocess.run([str(openkms_binary()), "call", "kms", "CreateSecret", "SecretName=" + name,
                               "VersionId=v1", "SecretData=" + value], env=env, capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, done.stderr
        done = subprocess.run([str(openkms_binary()), "get-secret", name], env=env, capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0 and done.stdout.strip() == value, done.stderr
        assert len(proxy.requests) == 2
        head, body = proxy.requests[0]
        request_line = head.split(b"\r\n")[0].decode()
        assert request_line == "POST / HTTP/1.1", request_line
        assert value.encode() not in head and name.encode() not in head
        assert b"SecretData=" + value.encode() in body
    finally:
        proxy.close()


# ---- secrets named by ARN -----------------------------------------------------------------------


def test_a_secret_arn_of_another_region_or_account_names_no_secret_here(server, kms_client, ram):
    name = "app/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, name, data="here")
    user = User(server, ram, [allow("kms:GetSecretValue", "acs:kms:*:*:secret/app/*")])
    assert ks.get_secret_value(user.kms, ks.secret_arn(name)).body.secret_data == "here"
    for arn in ("acs:kms:cn-shanghai:%s:secret/%s" % (ks.ACCOUNT_ID, name),
                "acs:kms:%s:1111111111111111:secret/%s" % (ks.REGION, name)):
        with ks.expect_error("Forbidden.ResourceNotFound", 404):
            ks.get_secret_value(user.kms, arn)
        with ks.expect_error("Forbidden.ResourceNotFound", 404):
            ks.get_secret_value(kms_client, arn)
    # A policy on the neighbouring path, or the name in another case, reaches nothing.
    neighbour = User(server, ram, [allow("kms:GetSecretValue", "acs:kms:*:*:secret/app2/*")])
    with forbidden("kms:GetSecretValue", ks.secret_arn(name)):
        ks.get_secret_value(neighbour.kms, name)
    with forbidden("kms:GetSecretValue", ks.secret_arn(name.upper())):
        ks.get_secret_value(user.kms, name.upper())


def test_a_flattened_session_policy_is_refused_not_dropped(server, raw, ram):
    from test_ram import m

    role = "hostile-" + uuid.uuid4().hex[:10]
    trust = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                             "Principal": {"RAM": "acs:ram::%s:root" % ks.ACCOUNT_ID}}]}
    ram.create_role(m().CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(trust)))
    arn = "acs:ram::%s:role/%s" % (ks.ACCOUNT_ID, role)
    # Dropping the narrowing policy would hand out the role's full rights.
    resp = raw.v1("AssumeRole", {"RoleArn": arn, "RoleSessionName": "s", "Policy.Version": "1",
                                 "Policy.Statement.1.Effect": "Deny"}, version="2015-04-01")
    ks.assert_error_response(resp, "InvalidParameter", 400)
    resp = raw.v1("CreatePolicy", {"PolicyName": "p-" + uuid.uuid4().hex[:8], "PolicyDocument": "{}",
                                   "PolicyDocument.Version": "1"}, version="2015-05-01")
    ks.assert_error_response(resp, "InvalidParameter", 400)
