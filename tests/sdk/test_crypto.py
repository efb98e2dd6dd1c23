"""Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext (kms-api.md 3.3):
base64 plaintext both ways, EncryptionContext bound in canonical form, a self-describing
CiphertextBlob, one opaque error for any blob that does not open, key states enforced."""
import base64
import json

import pytest

import kms_support as ks
from kms_support import (LegacyKms, create_alias, create_key, disable_key, enable_key, expect_error,
                         schedule_key_deletion, unique_alias)

req = LegacyKms.request


def m():
    return ks.models()


def b64(data):
    return base64.b64encode(data).decode("ascii")


def encrypt(client, key_id, data, context=None):
    return ks.body_map(client.encrypt(m().EncryptRequest(key_id=key_id, plaintext=b64(data),
                                                         encryption_context=context)))


def decrypt(client, blob, context=None):
    return ks.body_map(client.decrypt(m().DecryptRequest(ciphertext_blob=blob, encryption_context=context)))


def gdk(client, key_id, **kwargs):
    return ks.body_map(client.generate_data_key(m().GenerateDataKeyRequest(key_id=key_id, **kwargs)))


def gdk_without(client, key_id, **kwargs):
    return ks.body_map(client.generate_data_key_without_plaintext(
        m().GenerateDataKeyWithoutPlaintextRequest(key_id=key_id, **kwargs)))


@pytest.fixture
def key(kms_client):
    return create_key(kms_client)


def test_encrypt_decrypt_round_trip_without_key_id(any_client):
    md = create_key(any_client)
    enc = encrypt(any_client, md["KeyId"], b"hello")
    assert enc["KeyId"] == md["KeyId"]
    assert enc["KeyVersionId"] == md["PrimaryKeyVersion"]
    assert b"hello" not in base64.b64decode(enc["CiphertextBlob"])
    dec = decrypt(any_client, enc["CiphertextBlob"])
    assert base64.b64decode(dec["Plaintext"]) == b"hello"
    assert dec["KeyId"] == md["KeyId"] and dec["KeyVersionId"] == md["PrimaryKeyVersion"]


def test_encrypt_binary_data_up_to_6_kib(kms_client, key):
    for data in (bytes(range(256)), b"\x00" * 6144):
        enc = encrypt(kms_client, key["KeyId"], data)
        assert base64.b64decode(decrypt(kms_client, enc["CiphertextBlob"])["Plaintext"]) == data


def test_two_encryptions_differ(kms_client, key):
    a = encrypt(kms_client, key["KeyId"], b"same")["CiphertextBlob"]
    b = encrypt(kms_client, key["KeyId"], b"same")["CiphertextBlob"]
    assert a != b


def test_encrypt_accepts_alias_and_arns(kms_client, key):
    alias = unique_alias()
    create_alias(kms_client, alias, key["KeyId"])
    for ref in (alias, ks.alias_arn(alias), key["Arn"]):
        enc = encrypt(kms_client, ref, b"x")
        assert enc["KeyId"] == key["KeyId"]
        assert base64.b64decode(decrypt(kms_client, enc["CiphertextBlob"])["Plaintext"]) == b"x"


def test_encryption_context_must_match_in_any_key_order(kms_client, key):
    enc = encrypt(kms_client, key["KeyId"], b"ctx", context={"purpose": "demo", "app": "orders"})
    dec = decrypt(kms_client, enc["CiphertextBlob"], context={"app": "orders", "purpose": "demo"})
    assert base64.b64decode(dec["Plaintext"]) == b"ctx"
    for wrong in (None, {"purpose": "demo"}, {"purpose": "demo", "app": "other"}):
        with expect_error("InvalidCiphertext", 400) as e:
            decrypt(kms_client, enc["CiphertextBlob"], context=wrong)
        first = e.message
    plain = encrypt(kms_client, key["KeyId"], b"no ctx")
    with expect_error("InvalidCiphertext", 400) as e:
        decrypt(kms_client, plain["CiphertextBlob"], context={"a": "b"})
    assert e.message == first


def test_tampered_blobs_answer_one_opaque_error(kms_client, key):
    blob = base64.b64decode(encrypt(kms_client, key["KeyId"], b"tamper me")["CiphertextBlob"])
    messages = set()
    for i in (0, 1, 5, len(blob) // 2, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with expect_error("InvalidCiphertext", 400) as e:
            decrypt(kms_client, b64(bytes(bad)))
        messages.add(e.message)
    for junk in (b64(blob[:-1]), b64(blob[:10]), "ZmFrZQ==", "not base64!", b64(b"\x01" * 80)):
        with expect_error("InvalidCiphertext", 400) as e:
            decrypt(kms_client, junk)
        messages.add(e.message)
    assert len(messages) == 1, messages
    msg = messages.pop().lower()
    for leak in ("tag", "aead", "key id", "format", "base64", "length"):
        assert leak not in msg, msg


def test_encrypt_errors(kms_client, key):
    with expect_error("Forbidden.KeyNotFound", 404):
        encrypt(kms_client, ks.UNKNOWN_KEY_ID, b"x")
    with expect_error("InvalidParameter", 400):
        kms_client.encrypt(m().EncryptRequest(key_id=key["KeyId"], plaintext="***"))
    with expect_error("InvalidParameter", 400):
        encrypt(kms_client, key["KeyId"], b"x" * 6145)
    with expect_error("MissingParameter", 400):
        kms_client.encrypt(m().EncryptRequest(key_id=key["KeyId"]))


def test_malformed_encryption_context_is_invalid_parameter(raw, kms_client, key):
    for ctx in ('{"a":1}', "[1]", "{not json"):
        resp = raw.v3("Encrypt", {"KeyId": key["KeyId"], "Plaintext": "aGVsbG8=", "EncryptionContext": ctx})
        ks.assert_error_response(resp, "InvalidParameter", 400)


def test_disabled_key_refuses_encrypt_and_decrypt_until_enabled(kms_client, key):
    enc = encrypt(kms_client, key["KeyId"], b"locked")
    disable_key(kms_client, key["KeyId"])
    with expect_error("Rejected.Disabled", 409):
        encrypt(kms_client, key["KeyId"], b"x")
    with expect_error("Rejected.Disabled", 409):
        decrypt(kms_client, enc["CiphertextBlob"])
    with expect_error("Rejected.Disabled", 409):
        gdk(kms_client, key["KeyId"])
    enable_key(kms_client, key["KeyId"])
    assert base64.b64decode(decrypt(kms_client, enc["CiphertextBlob"])["Plaintext"]) == b"locked"


def test_pending_deletion_key_refuses_crypto(kms_client, key):
    enc = encrypt(kms_client, key["KeyId"], b"x")
    schedule_key_deletion(kms_client, key["KeyId"])
    with expect_error("Rejected.PendingDeletion", 409):
        encrypt(kms_client, key["KeyId"], b"x")
    with expect_error("Rejected.PendingDeletion", 409):
        decrypt(kms_client, enc["CiphertextBlob"])
    with expect_error("Rejected.PendingDeletion", 409):
        gdk_without(kms_client, key["KeyId"])


def test_service_key_cannot_encrypt(kms_client, unique_name):
    name = unique_name()
    ks.create_secret(kms_client, name)
    service_key = ks.body_map(ks.describe_secret(kms_client, name))["EncryptionKeyId"]
    with expect_error("Forbidden.NoPermission", 403):
        encrypt(kms_client, service_key, b"x")


def test_generate_data_key_sizes_and_decrypts_to_the_same_key(any_client):
    md = create_key(any_client)
    for kwargs, size in (({}, 32), ({"key_spec": "AES_128"}, 16), ({"key_spec": "AES_256"}, 32),
                         ({"number_of_bytes": 1}, 1), ({"number_of_bytes": 1024, "key_spec": "AES_128"}, 1024)):
        out = gdk(any_client, md["KeyId"], encryption_context={"k": "v"}, **kwargs)
        dk = base64.b64decode(out["Plaintext"])
        assert len(dk) == size, kwargs
        assert out["KeyId"] == md["KeyId"] and out["KeyVersionId"] == md["PrimaryKeyVersion"]
        dec = decrypt(any_client, out["CiphertextBlob"], context={"k": "v"})
        assert base64.b64decode(dec["Plaintext"]) == dk


def test_generate_data_key_without_plaintext(kms_client, key):
    out = gdk_without(kms_client, key["KeyId"], key_spec="AES_128")
    assert "Plaintext" not in out
    assert out["KeyId"] == key["KeyId"]
    assert len(base64.b64decode(decrypt(kms_client, out["CiphertextBlob"])["Plaintext"])) == 16


@pytest.mark.parametrize("kwargs", [{"number_of_bytes": 0}, {"number_of_bytes": 1025}, {"key_spec": "AES_512"}])
def test_generate_data_key_rejects_bad_sizes(kms_client, key, kwargs):
    with expect_error("InvalidParameter", 400):
        gdk(kms_client, key["KeyId"], **kwargs)
    with expect_error("InvalidParameter", 400):
        gdk_without(kms_client, key["KeyId"], **kwargs)


def test_generate_data_key_unknown_key(kms_client):
    with expect_error("Forbidden.KeyNotFound", 404):
        gdk(kms_client, ks.UNKNOWN_KEY_ID)
    with expect_error("Forbidden.KeyNotFound", 404):
        gdk_without(kms_client, "alias/none-such")


def test_ciphertext_survives_restart(fresh_server):
    srv = fresh_server()
    c = srv.client()
    key_id = create_key(c)["KeyId"]
    enc = encrypt(c, key_id, b"durable", context={"a": "b"})
    srv.restart()
    c = srv.client()
    assert base64.b64decode(decrypt(c, enc["CiphertextBlob"], context={"a": "b"})["Plaintext"]) == b"durable"


def test_blob_from_one_server_does_not_open_on_another(fresh_server):
    a = fresh_server().client()
    b = fresh_server().client()
    enc = encrypt(a, create_key(a)["KeyId"], b"x")
    with expect_error("InvalidCiphertext", 400):
        decrypt(b, enc["CiphertextBlob"])


def test_legacy_sdk_encrypt_decrypt(legacy_client):
    key_id = legacy_client.call(req("CreateKey"))["KeyMetadata"]["KeyId"]
    enc = legacy_client.call(req("Encrypt", KeyId=key_id, Plaintext="aGVsbG8=",
                                 EncryptionContext=json.dumps({"purpose": "demo"})))
    dec = legacy_client.call(req("Decrypt", CiphertextBlob=enc["CiphertextBlob"],
                                 EncryptionContext=json.dumps({"purpose": "demo"})))
    assert dec["Plaintext"] == "aGVsbG8="


def test_dry_run_checks_then_answers_dry_run_error(kms_client, key):
    enc = encrypt(kms_client, key["KeyId"], b"x")
    with expect_error("DryRunOperationError", 400):
        kms_client.encrypt(m().EncryptRequest(key_id=key["KeyId"], plaintext=b64(b"x"), dry_run="true"))
    with expect_error("DryRunOperationError", 400):
        kms_client.decrypt(m().DecryptRequest(ciphertext_blob=enc["CiphertextBlob"], dry_run="true"))
    with expect_error("DryRunOperationError", 400):
        gdk(kms_client, key["KeyId"], dry_run="true")
    with expect_error("DryRunOperationError", 400):
        gdk_without(kms_client, key["KeyId"], dry_run="true")
    # a dry run still reports what a real call would refuse
    with expect_error("Forbidden.KeyNotFound", 404):
        kms_client.encrypt(m().EncryptRequest(key_id=ks.UNKNOWN_KEY_ID, plaintext=b64(b"x"), dry_run="true"))
    disable_key(kms_client, key["KeyId"])
    with expect_error("Rejected.Disabled", 409):
        kms_client.decrypt(m().DecryptRequest(ciphertext_blob=enc["CiphertextBlob"], dry_run="true"))


def test_sm4_keys_encrypt_decrypt_generate_data_keys_and_protect_secrets(kms_client):
    md = create_key(kms_client, key_spec="Aliyun_SM4")
    assert md["KeySpec"] == "Aliyun_SM4"
    assert ks.describe_key(kms_client, md["KeyId"])["KeySpec"] == "Aliyun_SM4"
    ctx = {"app": "sm4"}
    blob = encrypt(kms_client, md["KeyId"], b"guomi plaintext", ctx)["CiphertextBlob"]
    out = decrypt(kms_client, blob, ctx)
    assert base64.b64decode(out["Plaintext"]) == b"guomi plaintext" and out["KeyId"] == md["KeyId"]
    with expect_error("InvalidCiphertext", 400):
        decrypt(kms_client, blob, {"app": "other"})
    dk = gdk(kms_client, md["KeyId"])
    again = decrypt(kms_client, dk["CiphertextBlob"])
    assert again["Plaintext"] == dk["Plaintext"]
    name = ks.unique("sm4")
    ks.create_secret(kms_client, name, data="under sm4", encryption_key_id=md["KeyId"])
    got = ks.body_map(ks.get_secret_value(kms_client, name))
    assert got["SecretData"] == "under sm4"
