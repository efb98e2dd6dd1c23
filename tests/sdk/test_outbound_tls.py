"""Outbound TLS (issue 14): the PostgreSQL store over TLS (`--store ...?sslmode=...`), and
rotation targets (MariaDB, PostgreSQL, Redis) registered with a TLS mode and CA, against
private servers that refuse plaintext (tls_servers.py). A wrong CA is refused with a clear
error and never answered by a plaintext retry."""

import json
import re
import subprocess
import uuid

import pytest

import kms_support as ks
from conftest import openkms_binary
from rotation_targets import ENGINES, account_name
from test_rotation import cli, create_db_secret, rotate, value
from tls_servers import MariadbTls, PostgresTls, RedisTls, TestCA

# Appears in store URLs; must never appear in a log line or an error.
URL_PASSWORD = "Url" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return TestCA(tmp_path_factory.mktemp("tls-ca"), "ca")


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """A CA that signed none of the servers."""
    return TestCA(tmp_path_factory.mktemp("tls-other-ca"), "other")


@pytest.fixture(scope="module")
def pg_tls(ca):
    cluster = PostgresTls(ca)
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def mariadb_tls(ca):
    server = MariadbTls(ca)
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def redis_tls(ca):
    server = RedisTls(ca)
    yield server
    server.destroy()


def serve_fails(fresh_server, url, timeout=60):
    """Starts a node on `url` that must exit; returns its stderr."""
    h = fresh_server(start=False, store_url=url)
    proc = h.spawn()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("openkms kept running on %s; stderr:\n%s" % (url, h.stderr()))
    finally:
        h.process = None
    assert rc != 0
    return plain(h.stderr())


def plain(text):
    """`text` without the terminal colours of the log lines."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def field(stderr, name):
    """A field of the store's start-up line (`name=value` or `name="value"`)."""
    lines = plain(stderr).splitlines()
    line = next((ln for ln in lines if "connected to the PostgreSQL store" in ln), None)
    assert line, stderr
    m = re.search(r'\b%s="?([^" ]*)' % re.escape(name), line)
    assert m, line
    return m.group(1)


# ---- the PostgreSQL store -------------------------------------------------------------------


def test_the_store_over_verified_tls_serves_and_never_logs_the_password(fresh_server, pg_tls, ca):
    db = pg_tls.new_database()
    url = pg_tls.url(db, password=URL_PASSWORD, sslmode="verify-full", sslrootcert=ca.path)
    srv = fresh_server(start=False, store_url=url).start()
    c = srv.client()
    name = ks.unique("tls-store")
    ks.create_secret(c, name, data="over tls")
    assert ks.body_map(ks.get_secret_value(c, name))["SecretData"] == "over tls"
    encrypted, plain = pg_tls.tls_backends(db)
    assert encrypted > 0 and plain == 0
    err = srv.stderr()
    assert field(err, "sslmode") == "verify-full"
    assert field(err, "encrypted").startswith("TLSv1."), err
    assert URL_PASSWORD not in err
    # `migrate` opens the store the same way.
    env = {k: v for k, v in srv.env.items() if not k.startswith("OPENKMS_")}
    out = subprocess.run([str(openkms_binary()), "migrate", "--store", url], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "up to date" in out.stdout, out.stderr
    assert URL_PASSWORD not in out.stdout + out.stderr


def test_a_store_certificate_from_another_ca_stops_the_start_with_a_tls_error(fresh_server, pg_tls, other_ca):
    db = pg_tls.new_database()
    url = pg_tls.url(db, password=URL_PASSWORD, sslmode="verify-full", sslrootcert=other_ca.path)
    err = serve_fails(fresh_server, url)
    assert "TLS to the PostgreSQL store failed (sslmode=verify-full)" in err, err
    assert "TLS verification of the server's certificate failed" in err and "UnknownIssuer" in err, err
    assert URL_PASSWORD not in err
    assert pg_tls.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", db) == "0"


def test_verify_full_checks_the_host_name_and_verify_ca_the_chain(fresh_server, pg_tls, ca, other_ca):
    db = pg_tls.new_database()
    # 127.0.0.2 reaches the same server, but its certificate names 127.0.0.1 and localhost.
    err = serve_fails(fresh_server, pg_tls.url(db, host="127.0.0.2", sslmode="verify-full", sslrootcert=ca.path))
    assert "TLS verification" in err and "not valid for name \"127.0.0.2\"" in err, err
    srv = fresh_server(start=False, store_url=pg_tls.url(db, sslmode="verify-ca", sslrootcert=ca.path)).start()
    assert field(srv.stderr(), "sslmode") == "verify-ca"
    assert pg_tls.tls_backends(db)[0] > 0
    err = serve_fails(fresh_server, pg_tls.url(db, sslmode="verify-ca", sslrootcert=other_ca.path))
    assert "TLS verification" in err and "UnknownIssuer" in err, err
    # libpq's verify-ca would accept the other name; sqlx 0.8.6 with rustls >= 0.23.24 checks it
    # too (launchbadge/sqlx#3793, docs/postgres.md): stricter, never weaker. This assertion
    # flags the day a driver upgrade changes that, so the documentation changes with it.
    err = serve_fails(fresh_server, pg_tls.url(db, host="127.0.0.2", sslmode="verify-ca", sslrootcert=ca.path))
    assert "not valid for name" in err, err


def test_sslmode_require_encrypts_without_a_ca(fresh_server, pg_tls):
    db = pg_tls.new_database()
    srv = fresh_server(start=False, store_url=pg_tls.url(db, sslmode="require")).start()
    ks.create_secret(srv.client(), ks.unique("tls-require"))
    assert field(srv.stderr(), "encrypted").startswith("TLSv1.")
    assert pg_tls.tls_backends(db)[1] == 0


def test_a_client_certificate_authenticates_to_the_store(fresh_server, pg_tls, ca):
    cert, key = ca.issue("certuser", client="certuser")
    db = pg_tls.new_database()
    url = pg_tls.url(db, user="certuser", sslmode="verify-full", sslrootcert=ca.path, sslcert=cert, sslkey=key)
    srv = fresh_server(start=False, store_url=url).start()
    ks.create_secret(srv.client(), ks.unique("tls-cert"))
    assert field(srv.stderr(), "client_certificate") == "true"
    # Without the certificate the same role is refused (pg_hba: cert).
    err = serve_fails(fresh_server, pg_tls.url(pg_tls.new_database(), user="certuser", sslmode="verify-full",
                                                sslrootcert=ca.path))
    assert "certificate" in err, err


def test_sslmode_prefer_reaches_a_server_without_tls_and_require_refuses_it(fresh_server, ca):
    plain = PostgresTls(ca, tls=False)
    try:
        db = plain.new_database()
        srv = fresh_server(start=False, store_url=plain.url(db, sslmode="prefer")).start()
        ks.create_secret(srv.client(), ks.unique("tls-prefer"))
        assert field(srv.stderr(), "encrypted") == "no"
        err = serve_fails(fresh_server, plain.url(plain.new_database(), sslmode="require"))
        assert "TLS to the PostgreSQL store failed (sslmode=require)" in err, err
        assert "does not support TLS" in err, err
    finally:
        plain.destroy()


def test_a_misspelt_tls_parameter_is_refused_not_ignored(fresh_server, pg_tls, ca):
    db = pg_tls.new_database()
    err = serve_fails(fresh_server, pg_tls.url(db, password=URL_PASSWORD, sslmod="verify-full"))
    assert '"sslmod"' in err and URL_PASSWORD not in err, err
    err = serve_fails(fresh_server, pg_tls.url(db, sslmode="verify-ful"))
    assert "sslmode must be one of" in err, err
    err = serve_fails(fresh_server, pg_tls.url(db, sslmode="verify-full", sslrootcert="/nonexistent/ca.pem"))
    assert "sslrootcert file /nonexistent/ca.pem cannot be read" in err, err


# ---- rotation targets -----------------------------------------------------------------------


@pytest.fixture(params=["mysql", "postgresql", "redis"])
def tls_target(request):
    return request.getfixturevalue({"mysql": "mariadb_tls", "postgresql": "pg_tls", "redis": "redis_tls"}[
        request.param])


def register_tls(server, client, target, *tls_args):
    instance = "rm-" + uuid.uuid4().hex[:12]
    admin_secret = "admin/" + instance
    ks.create_secret(client, admin_secret, data=json.dumps(target.admin))
    out = cli(server, "add", instance, "--engine", target.engine, "--address", target.address,
              "--admin-secret", admin_secret, *tls_args)
    return instance, json.loads(out.stdout)["DBInstance"]


def single_or_double(target):
    """Redis secrets rotate DoubleUsers only (from $Auto); the SQL engines take SingleUser."""
    return "DoubleUsers" if target.engine == "redis" else "SingleUser"


def listed(server, instance):
    items = json.loads(cli(server, "list").stdout)["DBInstances"]["DBInstance"]
    return next(i for i in items if i["DBInstanceId"] == instance)


def test_rotation_over_verified_tls_sets_a_password_that_logs_in_over_tls(server, kms_client, tls_target, ca):
    instance, added = register_tls(server, kms_client, tls_target, "--tls", "verify-identity",
                                   "--tls-ca-file", str(ca.path))
    assert added["TlsMode"] == "verify-identity" and added["TlsCaConfigured"] is True
    shown = listed(server, instance)
    assert shown["TlsMode"] == "verify-identity" and shown["TlsCaConfigured"] is True
    assert "BEGIN CERTIFICATE" not in json.dumps(shown)

    account, old = account_name(), "Init" + uuid.uuid4().hex
    tls_target.create_account(account, old)
    name = create_db_secret(kms_client, tls_target, instance, single_or_double(tls_target), account, old)
    rotate(kms_client, name, "r1")
    cred, got = value(kms_client, name)
    assert got["VersionId"] == "r1" and cred["AccountName"] == account
    assert tls_target.can_login(account, cred["AccountPassword"], ca.path)
    assert not tls_target.can_login(account, old, ca.path)


def test_a_target_certificate_from_another_ca_is_refused_and_the_secret_keeps_its_credential(
        server, kms_client, tls_target, ca, other_ca):
    instance, _ = register_tls(server, kms_client, tls_target, "--tls-ca-file", str(other_ca.path))
    # A CA alone asks for verification, on loopback too.
    assert listed(server, instance)["TlsMode"] == "verify-identity"
    account, old = account_name(), "Init" + uuid.uuid4().hex
    tls_target.create_account(account, old)
    name = create_db_secret(kms_client, tls_target, instance, single_or_double(tls_target), account, old)
    with ks.expect_error("InvalidParameter", 400) as err:
        rotate(kms_client, name, "r1")
    assert "TLS verification of the server's certificate failed" in err.message, err.message
    assert "verify-identity" in err.message and "UnknownIssuer" in err.message, err.message
    assert ks.body_map(ks.get_secret_value(kms_client, name))["VersionId"] == "v1"
    assert tls_target.can_login(account, old, ca.path)


def test_required_encrypts_without_checking_the_certificate(server, kms_client, tls_target, ca):
    instance, added = register_tls(server, kms_client, tls_target, "--tls", "required")
    assert added["TlsMode"] == "required" and added["TlsCaConfigured"] is False
    account, old = account_name(), "Init" + uuid.uuid4().hex
    tls_target.create_account(account, old)
    name = create_db_secret(kms_client, tls_target, instance, "DoubleUsers", account, old)
    for i in range(2):
        rotate(kms_client, name, "r%d" % i)
        cur, _ = value(kms_client, name)
        assert tls_target.can_login(cur["AccountName"], cur["AccountPassword"], ca.path), i


def test_verify_identity_without_a_ca_uses_the_system_roots_which_do_not_know_the_test_ca(
        server, kms_client, mariadb_tls):
    instance, _ = register_tls(server, kms_client, mariadb_tls, "--tls", "verify-identity")
    account, old = account_name(), "Init" + uuid.uuid4().hex
    mariadb_tls.create_account(account, old)
    name = create_db_secret(kms_client, mariadb_tls, instance, "SingleUser", account, old)
    with ks.expect_error("InvalidParameter", 400) as err:
        rotate(kms_client, name, "r1")
    assert "TLS verification" in err.message, err.message


def test_preferred_falls_back_to_plain_and_required_never_does(server, kms_client):
    """The machine's MariaDB and Redis serve no TLS."""
    mysql = ENGINES["mysql"]()
    instance, added = register_tls(server, kms_client, mysql, "--tls", "preferred")
    assert added["TlsMode"] == "preferred"
    account, pw = account_name(), "Init" + uuid.uuid4().hex
    mysql.create_account(account, pw)
    name = create_db_secret(kms_client, mysql, instance, "SingleUser", account, pw)
    rotate(kms_client, name, "r1")
    cur, _ = value(kms_client, name)
    assert mysql.can_login(account, cur["AccountPassword"])

    for target in (mysql, ENGINES["redis"]()):
        instance, _ = register_tls(server, kms_client, target, "--tls", "required")
        account, pw = account_name(), "Init" + uuid.uuid4().hex
        target.create_account(account, pw)
        name = create_db_secret(kms_client, target, instance, single_or_double(target), account, pw)
        if target.engine == "mysql":
            # MySQL says in its greeting that it has no TLS.
            with ks.expect_error("InvalidParameter", 400) as err:
                rotate(kms_client, name, "r1")
            assert "TLS mode required" in err.message and "does not support TLS" in err.message, err.message
        else:
            # A plain Redis port reads the TLS ClientHello as an unfinished command and waits.
            with ks.expect_error("ServiceUnavailableTemporary", 503) as err:
                rotate(kms_client, name, "r1")
            assert "TLS mode required" in err.message, err.message
        assert target.can_login(account, pw)


def test_the_tls_default_is_decided_by_the_server_and_bad_settings_are_refused(server, kms_client, ca, tmp_path):
    admin = "admin/tls-" + uuid.uuid4().hex[:8]
    ks.create_secret(kms_client, admin, data=json.dumps({"AccountName": "root", "AccountPassword": ""}))

    def add(engine, address, *args, check=True):
        instance = "rm-" + uuid.uuid4().hex[:12]
        out = cli(server, "add", instance, "--engine", engine, "--address", address, "--admin-secret", admin,
                  *args, check=check)
        return out if not check else json.loads(out.stdout)["DBInstance"]

    assert add("mysql", "db.invalid:3306")["TlsMode"] == "verify-identity"
    assert add("postgresql", "10.1.2.3:5432/app")["TlsMode"] == "verify-identity"
    assert add("mysql", "127.0.0.1:3306")["TlsMode"] == "disabled"
    assert add("redis", "localhost:6379")["TlsMode"] == "disabled"
    assert add("redis", "rediss://127.0.0.1:6380")["TlsMode"] == "verify-identity"
    assert add("mysql", "db.invalid:3306", "--tls", "disabled")["TlsMode"] == "disabled"

    garbage = tmp_path / "not-a-cert.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    key_too = tmp_path / "with-key.pem"
    cert, key = ca.issue("stray")
    key_too.write_text(cert.read_text() + key.read_text())
    for args, says in [
        (("mysql", "db.invalid:3306", "--tls-ca-file", str(garbage)), "TlsCaCertificate"),
        (("mysql", "db.invalid:3306", "--tls-ca-file", str(key_too)), "only CERTIFICATE blocks"),
        (("mysql", "db.invalid:3306", "--tls", "required", "--tls-ca-file", str(ca.path)), "verify-identity"),
        (("redis", "db.invalid:6379", "--tls", "preferred"), "TlsMode"),
        (("redis", "rediss://db.invalid:6380", "--tls", "disabled"), "rediss://"),
    ]:
        out = add(*args, check=False)
        assert out.returncode != 0 and "InvalidParameter" in out.stderr and says in out.stderr, (args, out.stderr)
        assert "PRIVATE KEY" not in out.stderr
    bad_mode = add("mysql", "db.invalid:3306", "--tls", "on", check=False)
    assert bad_mode.returncode != 0 and "verify-identity" in bad_mode.stderr

    # A raw API caller gets the same default as the CLI, and the same check of the mode.
    raw = server.raw()
    params = {"DBInstanceId": "rm-" + uuid.uuid4().hex[:12], "Engine": "mysql",
              "Address": "db.invalid:3306", "AdminSecretName": admin}
    resp = raw.v3("OpenkmsAddDbInstance", form=params)
    assert resp.status == 200 and resp.json()["DBInstance"]["TlsMode"] == "verify-identity", resp.body
    resp = raw.v3("OpenkmsAddDbInstance", form=dict(params, DBInstanceId="rm-" + uuid.uuid4().hex[:12],
                                                       TlsMode="verify-full"))
    ks.assert_error_response(resp, "InvalidParameter", 400)
