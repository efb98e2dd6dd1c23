"""Root of trust, pluggable: the server with its root key inside a PKCS#11 HSM (SoftHSM2, set
up by scripts/test), and `openkms rekey` moving every key to a new root while the server
serves. These tests need the HSM variables; without them they fail and say so (an HSM mode
that CI never ran is not supported)."""
import base64
import os
import subprocess
import threading
import uuid

import pytest

import kms_support as ks
from conftest import openkms_binary
from kms_support import create_key, create_secret, get_secret_value

HSM_VARS = ("OPENKMS_TEST_PKCS11_MODULE", "OPENKMS_TEST_PKCS11_TOKEN", "OPENKMS_TEST_PKCS11_PIN", "SOFTHSM2_CONF")


def hsm_env(key_label):
    missing = [v for v in HSM_VARS if not os.environ.get(v)]
    if missing:
        pytest.fail("HSM tests need %s: run scripts/test, or eval \"$(scripts/softhsm-env)\" first"
                    % ", ".join(missing))
    return {
        "OPENKMS_ROOT_OF_TRUST": "pkcs11",
        "OPENKMS_HSM_MODULE": os.environ["OPENKMS_TEST_PKCS11_MODULE"],
        "OPENKMS_HSM_TOKEN_LABEL": os.environ["OPENKMS_TEST_PKCS11_TOKEN"],
        "OPENKMS_HSM_KEY_LABEL": key_label,
        "OPENKMS_HSM_PIN": os.environ["OPENKMS_TEST_PKCS11_PIN"],
    }


def b64(data):
    return base64.b64encode(data).decode("ascii")


def encrypt(client, key_id, data):
    return ks.body_map(client.encrypt(ks.models().EncryptRequest(key_id=key_id, plaintext=b64(data))))


def decrypt(client, blob):
    body = ks.body_map(client.decrypt(ks.models().DecryptRequest(ciphertext_blob=blob)))
    return base64.b64decode(body["Plaintext"])


def populate(client, n=3):
    """Keys with two versions each, a blob per version, a secret per key."""
    blobs, secrets = [], []
    for i in range(n):
        key_id = create_key(client)["KeyId"]
        for _ in range(2):
            blobs.append(encrypt(client, key_id, b"data-%d" % i)["CiphertextBlob"])
            client.create_key_version(ks.models().CreateKeyVersionRequest(key_id=key_id))
        name = "rot-%s" % uuid.uuid4().hex[:12]
        create_secret(client, name, data="value-%d" % i, encryption_key_id=key_id)
        secrets.append((name, "value-%d" % i))
    return blobs, secrets


def read_all(client, blobs, secrets):
    for blob in blobs:
        assert decrypt(client, blob).startswith(b"data-")
    for name, value in secrets:
        assert ks.body_map(get_secret_value(client, name))["SecretData"] == value


def run_rekey(srv, *args):
    """`openkms rekey` as a second process on the running server's data dir."""
    env = dict(srv.env)
    out = subprocess.run([str(openkms_binary()), "rekey", "--data-dir", str(srv.data_dir), *args],
                         env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, "rekey failed:\n%s\n%s" % (out.stdout, out.stderr)
    return out.stdout


def rekey_while_reading(srv, blobs, secrets, *args):
    """Runs rekey while two threads read everything in a loop; returns the readers' errors."""
    stop = threading.Event()
    errors, rounds = [], [0]

    def reader():
        client = srv.client()
        while not stop.is_set():
            try:
                read_all(client, blobs, secrets)
                rounds[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is a lost read
                errors.append(repr(e))
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        out = run_rekey(srv, *args)
        # A round after the rekey ended, too.
        target = rounds[0] + 2
        while rounds[0] < target and not errors and any(t.is_alive() for t in threads):
            stop.wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert rounds[0] > 0
    return out, errors


def test_hsm_root_end_to_end_and_after_restart(fresh_server, unique_name):
    label = "openkms-e2e-%s" % uuid.uuid4().hex[:8]
    srv = fresh_server(env_overrides=hsm_env(label))
    client = srv.client()
    key_id = create_key(client)["KeyId"]
    blob = encrypt(client, key_id, b"inside the hsm")["CiphertextBlob"]
    assert decrypt(client, blob) == b"inside the hsm"
    name = unique_name()
    create_secret(client, name, data="hsm-sealed", encryption_key_id=key_id)
    create_secret(client, name + "-svc", data="service-key-sealed")
    assert not (srv.data_dir / "root.key").exists(), "the HSM mode must not create a root key file"

    srv.restart()
    client = srv.client()
    assert decrypt(client, blob) == b"inside the hsm"
    assert ks.body_map(get_secret_value(client, name))["SecretData"] == "hsm-sealed"
    assert ks.body_map(get_secret_value(client, name + "-svc"))["SecretData"] == "service-key-sealed"
    assert encrypt(client, key_id, b"after restart")["KeyId"] == key_id

    # The same data with another key label is another root: refused, not re-initialised.
    srv.stop()
    srv.env["OPENKMS_HSM_KEY_LABEL"] = label + "-other"
    proc = srv.spawn()
    assert proc.wait(timeout=20) != 0
    srv.process = None
    assert label + "-other" in srv.stderr()


def test_rekey_file_root_online_loses_no_read(fresh_server):
    srv = fresh_server()
    blobs, secrets = populate(srv.client())
    new_key = srv.data_dir.parent / "new-root.key"
    out, errors = rekey_while_reading(srv, blobs, secrets, "--new-root-key-file", str(new_key))
    assert not errors, errors
    assert "old roots retired" in out
    # Keys created after the rekey are wrapped by the new root.
    client = srv.client()
    fresh_key = create_key(client)["KeyId"]
    blobs.append(encrypt(client, fresh_key, b"data-new")["CiphertextBlob"])

    # The old root key file can go; the server restarts on the new one and reads everything.
    srv.stop()
    (srv.data_dir / "root.key").rename(srv.data_dir.parent / "old-root.key")
    srv.env["OPENKMS_ROOT_KEY_FILE"] = str(new_key)
    srv.start()
    read_all(srv.client(), blobs, secrets)


def test_rekey_hsm_root_online_to_a_new_hsm_key(fresh_server):
    label = "openkms-rk-%s" % uuid.uuid4().hex[:8]
    srv = fresh_server(env_overrides=hsm_env(label))
    blobs, secrets = populate(srv.client(), n=2)
    out, errors = rekey_while_reading(srv, blobs, secrets, "--new-hsm-key-label", label + "-2")
    assert not errors, errors
    assert "old roots retired" in out
    srv.stop()
    srv.env["OPENKMS_HSM_KEY_LABEL"] = label + "-2"
    srv.start()
    read_all(srv.client(), blobs, secrets)
