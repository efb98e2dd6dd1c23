"""Authentication holes found by hostile testing (issue 12), each replayed as the attacker did:
a captured request replayed after a restart or a crash, one key flooding the replay window,
a V3 body whose content-type is not signed, root access keys that Alibaba would never issue
or that a leftover variable adds silently, and two servers on one data directory."""
import os
import subprocess
import time

import pytest

import kms_support as ks
import signer
from conftest import free_port, openkms_binary
from kms_support import assert_error_response, assert_success_response
from rawkms import send
from test_ram import m, new_user, ram_client


def captured_force_delete(raw, name):
    """A force DeleteSecret as an eavesdropper would keep it: fixed nonce and timestamp."""
    nonce, ts = signer.new_nonce(), signer.utc_timestamp()
    return lambda: raw.v1("DeleteSecret", {"SecretName": name, "ForceDeleteWithoutRecovery": "true"},
                          nonce=nonce, timestamp=ts)


@pytest.mark.parametrize("how", ["restart", "kill9"])
def test_a_request_captured_before_a_restart_is_refused_after_it(fresh_server, how):
    srv = fresh_server()
    name = ks.unique("replay")
    client = srv.client()
    ks.create_secret(client, name)
    replay = captured_force_delete(srv.raw(), name)
    assert_success_response(replay())
    if how == "restart":
        srv.restart()
    else:
        srv.kill9()
        srv.start()
    client = srv.client()
    ks.create_secret(client, name, data="re-created")
    assert_error_response(replay(), "SignatureNonceUsed", 400)
    assert ks.get_secret_value(client, name).body.secret_data == "re-created"


def test_a_key_flooding_the_replay_window_is_throttled_and_others_are_served(fresh_server):
    # A small window makes the flood short: 2000 nonces, a quarter (500) per key. Not smaller:
    # the window is also split into 64 shards of capacity/64 (here 32) nonces each, filled by
    # nonce hash, and at 400 (7 a shard) the flood alone sometimes filled a shard that one of the
    # root's requests below then hashed into, refusing it for the shard, not for the key.
    srv = fresh_server(env_overrides={"OPENKMS_REPLAY_CAPACITY": "2000"})
    ram = ram_client(srv)
    user = new_user(ram, "flood")
    key = ram.create_access_key(m().CreateAccessKeyRequest(user_name=user)).body.access_key
    attacker = srv.raw(ak=key.access_key_id, sk=key.access_key_secret)
    codes = []
    for _ in range(600):
        # No permission at all is needed: the nonce is recorded when the signature verifies.
        codes.append(attacker.v1("DescribeRegions").json().get("Code"))
    assert codes.count("Rejected.Throttling") >= 50, codes
    # Everyone else keeps working.
    root = srv.raw()
    for _ in range(20):
        assert_success_response(root.v1("DescribeRegions"))


def test_a_v3_body_must_sign_its_content_type(server):
    raw = server.raw()
    body = signer.form_encode({"SecretName": "x"}).encode()
    headers = signer.v3_headers("POST", server.endpoint, "DescribeSecret", {}, body,
                                server.access_key_id, server.access_key_secret, content_type=None)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    resp = send(raw.endpoint, "POST", "/", headers, body)
    assert_error_response(resp, "IncompleteSignature", 400)
    assert "content-type" in resp.json()["Message"]


def start_fails(srv, env):
    srv.env.update(env)
    proc = subprocess.run(
        [str(openkms_binary()), "serve", "--listen", srv.endpoint, "--data-dir", str(srv.data_dir),
         "--account-id", ks.ACCOUNT_ID, "--region", ks.REGION]
        + (["--store", srv.store_url] if srv.store_url else []),
        env=srv.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc.stderr


@pytest.mark.parametrize("ak,sk,says", [
    ("testAccessKeyId", "x", "30 to 128"),
    ("STS.rootkey", "abcdefghijklmnopqrstuvwxyz0123456789", "STS."),
])
def test_a_root_access_key_alibaba_would_never_issue_is_refused(fresh_server, ak, sk, says):
    srv = fresh_server(start=False)
    err = start_fails(srv, {"OPENKMS_ROOT_ACCESS_KEY_ID": ak, "OPENKMS_ROOT_ACCESS_KEY_SECRET": sk})
    assert says in err
    assert not (srv.data_dir / "openkms.db").exists(), "nothing initialised"


def root_key_cli(srv, *args):
    return subprocess.run(
        [str(openkms_binary()), "root-key", "--data-dir", str(srv.data_dir)]
        + (["--store", srv.store_url] if srv.store_url else []) + list(args),
        env=srv.env, capture_output=True, text=True, timeout=60)


def test_root_keys_are_managed_explicitly_after_the_first_start(fresh_server):
    srv = fresh_server()
    srv.stop()
    # A leftover variable naming another key no longer adds a second, permanent root key.
    err = start_fails(srv, {"OPENKMS_ROOT_ACCESS_KEY_ID": "LTAIsomethingElse",
                            "OPENKMS_ROOT_ACCESS_KEY_SECRET": "abcdefghijklmnopqrstuvwxyz0123456789"})
    assert "not a root access key of this store" in err
    srv.env["OPENKMS_ROOT_ACCESS_KEY_ID"] = srv.access_key_id
    srv.env["OPENKMS_ROOT_ACCESS_KEY_SECRET"] = srv.access_key_secret
    srv.start()

    created = root_key_cli(srv, "create")
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(":", 1) for line in created.stdout.strip().splitlines())
    new_id, new_secret = fields["AccessKeyId"].strip(), fields["AccessKeySecret"].strip()
    assert "root access key created" in created.stderr and new_secret not in created.stderr
    assert_success_response(srv.raw(ak=new_id, sk=new_secret).v1("DescribeRegions"))
    listed = root_key_cli(srv, "list")
    assert new_id in listed.stdout and srv.access_key_id in listed.stdout
    assert new_secret not in listed.stdout

    disabled = root_key_cli(srv, "disable", new_id)
    assert disabled.returncode == 0, disabled.stderr
    deadline = time.time() + 15
    while time.time() < deadline:
        resp = srv.raw(ak=new_id, sk=new_secret).v1("DescribeRegions")
        if resp.status != 200:
            break
        time.sleep(0.5)
    assert_error_response(resp, "Forbidden.AccessKey", 403)

    # The last active root key can be neither disabled nor deleted.
    last = root_key_cli(srv, "delete", srv.access_key_id)
    assert last.returncode != 0 and "last active root access key" in last.stderr
    assert root_key_cli(srv, "delete", new_id).returncode == 0
    assert new_id not in root_key_cli(srv, "list").stdout


def test_a_second_server_on_the_same_data_directory_is_refused(fresh_server):
    srv = fresh_server()
    proc = subprocess.run(
        [str(openkms_binary()), "serve", "--listen", "127.0.0.1:%d" % free_port(),
         "--data-dir", str(srv.data_dir), "--account-id", ks.ACCOUNT_ID, "--region", ks.REGION],
        env=srv.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "in use by another openkms process (PID %d)" % srv.process.pid in proc.stderr
    # The first server is unaffected.
    assert_success_response(srv.raw().v1("DescribeRegions"))
