"""Private TLS servers for the outbound TLS tests (issue 14): a test CA made here with the
`cryptography` package, and PostgreSQL, MariaDB and Redis each started from the machine's
binaries on a free loopback port in a temporary directory, serving a certificate that CA signed
for 127.0.0.1 and localhost, and removed afterwards. Each refuses plaintext from TCP clients,
so a login that works proves the connection was TLS.

A missing binary fails the test (these tests never skip): PostgreSQL from
/usr/lib/postgresql/<version>/bin, `mariadb-install-db` and `mariadbd`, `redis-server` built
with TLS (Debian's is)."""

import datetime
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import free_port

HOSTS = ("127.0.0.1", "localhost")


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


class TestCA:
    """A CA that signs server and client certificates, its files in `directory`."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, directory, label="ca"):
        self.dir = Path(directory)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.name = _name("openkms test %s %s" % (label, uuid.uuid4().hex[:8]))
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.path = self.dir / ("%s.pem" % label)
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.path.write_text(self.pem)

    def issue(self, stem, hosts=HOSTS, client=None):
        """A certificate for `hosts` (a server), or for the user `client`; returns the paths of
        the certificate and its key."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(client or hosts[0])).issuer_name(self.name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
        )
        if client:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                            critical=False)
        else:
            sans = []
            for h in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(h)))
                except ValueError:
                    sans.append(x509.DNSName(h))
            builder = (builder
                       .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                      critical=False))
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path, key_path = self.dir / ("%s.crt" % stem), self.dir / ("%s.key" % stem)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        return cert_path, key_path


def _wait_for(check, what, timeout=30, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("%s did not start within %ss:\n%s" % (what, timeout, log()))


def _require(binary):
    path = shutil.which(binary) or (binary if Path(binary).exists() else None)
    if not path:
        pytest.fail("the outbound TLS tests start their own servers: %s is not installed" % binary)
    return path


def _as_root():
    return os.geteuid() == 0


class PostgresTls:
    """A private PostgreSQL cluster with ssl=on: TCP clients must use TLS (hostnossl is
    rejected), members of openkms_rotated log in with their password, the role `certuser`
    with a client certificate, everyone else is trusted. Listens on 127.0.0.1 and 127.0.0.2,
    so a host the certificate does not name can be tried."""

    def __init__(self, ca, tls=True):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
        if not found:
            pytest.fail("the outbound TLS tests start their own PostgreSQL: no /usr/lib/postgresql/*/bin/pg_ctl")
        self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="openkms-pgtls-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.tls = tls
        self.ca = ca
        if tls:
            self.cert, self.key = ca.issue("pg-server", hosts=HOSTS, client=None)
            for p in (self.cert, self.key):
                shutil.copy(p, self.dir / p.name)
            self.cert, self.key = self.dir / self.cert.name, self.dir / self.key.name
            (self.dir / "ca.pem").write_text(ca.pem)
        if _as_root():
            subprocess.run(["chown", "-R", "postgres:postgres", str(self.dir)], check=True)
        self.pg("initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", str(self.data))
        hba = ["local all all trust"]
        if tls:
            hba += [
                "hostssl all certuser 127.0.0.0/8 cert",
                "hostssl all +openkms_rotated 127.0.0.0/8 scram-sha-256",
                "hostssl all all 127.0.0.0/8 trust",
                "hostnossl all all 0.0.0.0/0 reject",
            ]
        else:
            hba += ["host all all 127.0.0.0/8 trust"]
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        if _as_root():
            shutil.chown(self.data / "pg_hba.conf", "postgres", "postgres")
        self.start()
        self.psql("CREATE ROLE openkms_rotated NOLOGIN")
        self.psql("CREATE ROLE certuser LOGIN SUPERUSER")

    def pg(self, tool, *args, check=True):
        cmd = [str(self.bin / tool), *args]
        if _as_root():
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise AssertionError("%s failed (%s):\n%s%s\n%s" % (
                tool, result.returncode, result.stdout, result.stderr, self.log()))
        return result

    def log(self):
        path = self.dir / "postgres.log"
        return path.read_text("utf-8", "replace")[-3000:] if path.exists() else ""

    def start(self):
        opts = ["-c listen_addresses='127.0.0.1,127.0.0.2'", "-c port=%d" % self.port,
                "-c unix_socket_directories=%s" % self.dir]
        if self.tls:
            opts += ["-c ssl=on", "-c ssl_cert_file=%s" % self.cert, "-c ssl_key_file=%s" % self.key,
                     "-c ssl_ca_file=%s" % (self.dir / "ca.pem")]
        self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-w", "-o",
                " ".join(opts), "start")

    def psql(self, sql, database="postgres"):
        """Runs `sql` as postgres over the Unix socket (trusted, no TLS)."""
        out = subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", str(self.dir), "-p",
                              str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError("psql %r failed: %s" % (sql, out.stderr))
        return out.stdout.strip()

    def new_database(self):
        name = "openkms_" + uuid.uuid4().hex[:12]
        self.psql("CREATE DATABASE " + name)
        return name

    def url(self, database, user="postgres", host="127.0.0.1", password=None, **params):
        auth = user + (":" + password if password else "")
        query = "&".join("%s=%s" % kv for kv in params.items())
        return "postgres://%s@%s:%d/%s%s" % (auth, host, self.port, database, "?" + query if query else "")

    def tls_backends(self, database):
        """(encrypted, plain) counts of the client backends connected to `database`."""
        row = self.psql("SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) "
                        "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                        "WHERE a.datname = '%s' AND a.backend_type = 'client backend'" % database)
        enc, plain = row.split("|")
        return int(enc), int(plain)

    # -- as a rotation target --------------------------------------------------------------

    engine = "postgresql"
    admin = {"AccountName": "postgres", "AccountPassword": ""}

    @property
    def address(self):
        return "127.0.0.1:%d/postgres" % self.port

    def create_account(self, name, password):
        self.psql("CREATE ROLE \"%s\" LOGIN PASSWORD '%s' IN ROLE openkms_rotated" % (name, password))

    def can_login(self, name, password, ca_path):
        import ssl

        import pg8000.native

        ctx = ssl.create_default_context(cafile=str(ca_path)) if ca_path else None
        try:
            pg8000.native.Connection(name, password=password, host="127.0.0.1", port=self.port,
                                     database="postgres", timeout=5, ssl_context=ctx).close()
            return True
        except (pg8000.exceptions.DatabaseError, pg8000.exceptions.InterfaceError):
            return False

    def destroy(self):
        self.pg("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class MariadbTls:
    """A private MariaDB (its own datadir, socket and port) with TLS and
    require_secure_transport: a TCP login without TLS is refused. The admin account `admin`
    (password in `admin_password`) may do everything from anywhere."""

    engine = "mysql"

    def __init__(self, ca):
        _require("mariadb-install-db")
        _require("mariadb")
        self.mariadbd = _require("mariadbd")
        self.dir = Path(tempfile.mkdtemp(prefix="openkms-mariadb-"))
        self.data = self.dir / "data"
        self.socket = self.dir / "mysqld.sock"
        self.port = free_port()
        self.cert, self.key = ca.issue("mariadb-server")
        self.ca_path = ca.path
        user = ["--user=root"] if _as_root() else []
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=%s" % self.data,
                        "--auth-root-authentication-method=normal", "--skip-test-db", *user],
                       check=True, capture_output=True, timeout=120)
        self.process = subprocess.Popen(
            [self.mariadbd, "--no-defaults", "--datadir=%s" % self.data, *user,
             "--port=%d" % self.port, "--bind-address=127.0.0.1", "--socket=%s" % self.socket,
             "--pid-file=%s" % (self.dir / "mysqld.pid"), "--log-error=%s" % (self.dir / "error.log"),
             # absolute paths: mariadbd runs in its datadir
             "--ssl-cert=%s" % self.cert.resolve(), "--ssl-key=%s" % self.key.resolve(),
             "--ssl-ca=%s" % self.ca_path.resolve(), "--require-secure-transport=ON",
             "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: self.process.poll() is not None or self._sql("SELECT 1", check=False) is not None,
                  "mariadbd", log=self.log)
        if self.process.poll() is not None:
            raise AssertionError("mariadbd exited:\n" + self.log())
        self.admin_password = "Adm1n" + uuid.uuid4().hex
        self._sql("CREATE USER admin@'%%' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO admin@'%%' WITH GRANT OPTION;"
                  "CREATE DATABASE app;" % self.admin_password)
        self.admin = {"AccountName": "admin", "AccountPassword": self.admin_password}

    def log(self):
        path = self.dir / "error.log"
        return path.read_text("utf-8", "replace")[-3000:] if path.exists() else ""

    def _sql(self, sql, check=True):
        """Runs `sql` as root over the Unix socket; None when it fails and check is False."""
        out = subprocess.run(["mariadb", "--no-defaults", "--socket=%s" % self.socket, "-uroot", "-N", "-e", sql],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            if check:
                raise AssertionError("mariadb %r failed: %s" % (sql, out.stderr))
            return None
        return out.stdout

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def create_account(self, name, password):
        self._sql("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'; GRANT SELECT ON app.* TO '%s'@'%%';"
                  % (name, password, name))

    def can_login(self, name, password, ca_path):
        import pymysql

        ssl = {"ca": str(ca_path), "check_hostname": True} if ca_path else None
        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user=name, password=password,
                            connect_timeout=5, ssl=ssl).close()
            return True
        except pymysql.err.OperationalError:
            return False

    def destroy(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisTls:
    """A private redis-server listening on a TLS port only (`--port 0`), clients not asked for
    a certificate; the default user has no password and acts as admin."""

    engine = "redis"
    admin = {"AccountName": "default", "AccountPassword": ""}

    def __init__(self, ca):
        binary = _require("redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="openkms-redis-"))
        self.port = free_port()
        self.cert, self.key = ca.issue("redis-server")
        self.ca_path = ca.path
        self.process = subprocess.Popen(
            [binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
             "--tls-ca-cert-file", str(self.ca_path), "--tls-auth-clients", "no",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: self.process.poll() is not None or self._ping(), "redis-server", log=self.log)
        if self.process.poll() is not None:
            raise AssertionError("redis-server exited (built without TLS?):\n" + self.log())

    def log(self):
        path = self.dir / "redis.log"
        return path.read_text("utf-8", "replace")[-3000:] if path.exists() else ""

    def _client(self, **kw):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, ssl=True, ssl_ca_certs=str(self.ca_path),
                           socket_timeout=5, **kw)

    def _ping(self):
        try:
            return self._client().ping()
        except Exception:  # noqa: BLE001 - not up yet
            return False

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def create_account(self, name, password):
        self._client().execute_command("ACL", "SETUSER", name, "on", ">" + password, "~%s:*" % name, "+@all")

    def can_login(self, name, password, ca_path):
        import redis

        try:
            return redis.Redis(host="127.0.0.1", port=self.port, username=name, password=password,
                               ssl=True, ssl_ca_certs=str(ca_path), socket_timeout=5).ping()
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
            return False

    def destroy(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
