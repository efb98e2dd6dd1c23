"""Crash safety and data-at-rest: each test runs its own server on its own fresh data dir."""
import base64
import binascii
import subprocess
import uuid

import pytest

import kms_support as ks
from kms_support import create_secret, get_secret_value, put_secret_value

START_FAILURE_TIMEOUT = 20


def test_acknowledged_secret_survives_kill_9_and_restart(fresh_server, unique_name):
    srv = fresh_server()
    client = srv.client()
    name = unique_name()
    create_secret(client, name, data="survives-crash", version_id="v1")
    put_secret_value(client, name, "v2", "second-version")
    srv.kill9()
    srv.start()
    client = srv.client()
    body = ks.body_map(get_secret_value(client, name))
    assert (body["VersionId"], body["SecretData"]) == ("v2", "second-version")
    prev = ks.body_map(get_secret_value(client, name, version_stage="ACSPrevious"))
    assert (prev["VersionId"], prev["SecretData"]) == ("v1", "survives-crash")


def test_secret_survives_graceful_restart_and_sigterm_exits_zero(fresh_server, unique_name):
    srv = fresh_server()
    name = unique_name()
    create_secret(srv.client(), name, data="survives-restart")
    assert srv.stop() == 0, "openkms should exit 0 on SIGTERM; stderr:\n" + srv.stderr()
    srv.start()
    assert ks.body_map(get_secret_value(srv.client(), name))["SecretData"] == "survives-restart"


def plaintext_forms(value):
    raw = value.encode("utf-8")
    forms = {"raw": raw, "hex": binascii.hexlify(raw), "HEX": binascii.hexlify(raw).upper()}
    # base64 of the value at each of the three byte alignments it could sit at inside a larger blob;
    # the leading/trailing characters that depend on the neighbours are cut off
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw)
        skip = (shift * 4 + 2) // 3 + 1
        forms["base64+%d" % shift] = enc[skip:-4]
        forms["urlsafe-base64+%d" % shift] = base64.urlsafe_b64encode(b"\0" * shift + raw)[skip:-4]
    forms["utf-16le"] = value.encode("utf-16-le")
    return forms


def scan_for(data_dir, forms):
    hits = []
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    for path in files:
        content = path.read_bytes()
        for label, needle in forms.items():
            if needle and needle in content:
                hits.append("%s contains the secret value (%s)" % (path.name, label))
    return files, hits


def test_no_file_in_data_dir_contains_secret_plaintext(fresh_server, unique_name):
    srv = fresh_server()
    client = srv.client()
    values = ["canary-%s-plaintext-must-not-hit-disk" % uuid.uuid4().hex for _ in range(2)]
    name = unique_name()
    create_secret(client, name, data=values[0])
    put_secret_value(client, name, "v2", values[1])
    assert ks.body_map(get_secret_value(client, name))["SecretData"] == values[1]
    forms = {}
    for i, v in enumerate(values):
        forms.update({"value%d %s" % (i, k): f for k, f in plaintext_forms(v).items()})
    files, hits = scan_for(srv.data_dir, forms)  # while running: WAL not yet checkpointed
    names = {p.name for p in files}
    # On the PostgreSQL store the data dir holds only local files (the root key).
    expected = {"root.key"} if srv.store_url else {"openkms.db", "root.key"}
    assert expected <= names, sorted(names)
    assert not hits, hits
    assert srv.stop() is not None
    files, hits = scan_for(srv.data_dir, forms)  # after shutdown / checkpoint
    assert not hits, hits
    # nor do the server's own logs (stdout/stderr) carry the value
    raw_forms = {k: v for k, v in forms.items() if k.endswith(" raw")}
    logs = sorted(srv.log_dir.glob("std*.log"))
    assert logs
    leaked = [p.name for p in logs for needle in raw_forms.values() if needle in p.read_bytes()]
    assert not leaked, "secret value written to server output: %s" % leaked


def test_missing_root_key_fails_start_with_clear_error_and_does_not_reinitialise(fresh_server, unique_name):
    srv = fresh_server()
    name = unique_name()
    create_secret(srv.client(), name, data="needs-the-root-key")
    srv.stop()
    root_key = srv.data_dir / "root.key"
    assert root_key.is_file()
    saved = root_key.read_bytes()
    mode = root_key.stat().st_mode & 0o777
    root_key.unlink()

    proc = srv.spawn()
    try:
        rc = proc.wait(timeout=START_FAILURE_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("openkms kept running although root.key is missing; stderr:\n" + srv.stderr())
    srv.process = None
    assert rc != 0, "openkms exited 0 although root.key is missing"
    err = srv.stderr()
    assert "root.key" in err, "stderr should name the missing root.key; got:\n" + err
    assert not root_key.exists(), "openkms created a new root.key instead of failing"
    if not srv.store_url:
        assert (srv.data_dir / "openkms.db").is_file()

    # with the original key back, the old data is still readable: nothing was re-initialised
    root_key.write_bytes(saved)
    root_key.chmod(mode)
    srv.start()
    assert ks.body_map(get_secret_value(srv.client(), name))["SecretData"] == "needs-the-root-key"
