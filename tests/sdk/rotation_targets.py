"""The machine's MariaDB, PostgreSQL and Redis as rotation targets: make accounts, try logins.

Addresses come from OPENKMS_TEST_MYSQL / OPENKMS_TEST_POSTGRES / OPENKMS_TEST_REDIS, which
scripts/test sets (scripts/rotation-targets-env); without them the rotation tests fail rather
than skip."""

import os
import uuid

import pytest


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail("%s is not set: run the suite through scripts/test, or "
                    "eval \"$(scripts/rotation-targets-env)\" first" % name)
    return value


def _split(address):
    host, _, port = address.rpartition(":")
    return host, int(port)


def account_name(prefix="okr"):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:10])


class Mysql:
    engine = "mysql"
    admin = {"AccountName": "root", "AccountPassword": ""}

    def __init__(self):
        self.address = _env("OPENKMS_TEST_MYSQL")
        self.host, self.port = _split(self.address)

    def _admin(self):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user="root", password="", autocommit=True)

    def create_account(self, name, password):
        with self._admin() as c, c.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
            cur.execute("GRANT SELECT ON test.* TO %s@'%%'", (name,))

    def account_exists(self, name):
        with self._admin() as c, c.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (name,))
            return cur.fetchone()[0] > 0

    def can_login(self, name, password):
        import pymysql

        try:
            pymysql.connect(host=self.host, port=self.port, user=name, password=password,
                            connect_timeout=5).close()
            return True
        except pymysql.err.OperationalError:
            return False


class Postgres:
    engine = "postgresql"
    admin = {"AccountName": "postgres", "AccountPassword": ""}

    def __init__(self):
        self.address = _env("OPENKMS_TEST_POSTGRES")
        hostport, _, self.database = self.address.partition("/")
        self.host, self.port = _split(hostport)

    def _admin(self):
        import pg8000.native

        return pg8000.native.Connection("postgres", host=self.host, port=self.port, database=self.database)

    def create_account(self, name, password):
        c = self._admin()
        try:
            # Members of openkms_rotated must log in with their password (pg_hba.conf).
            c.run('CREATE ROLE "%s" LOGIN PASSWORD \'%s\' IN ROLE openkms_rotated' % (name, password))
        finally:
            c.close()

    def account_exists(self, name):
        c = self._admin()
        try:
            return bool(c.run("SELECT 1 FROM pg_roles WHERE rolname = :n", n=name))
        finally:
            c.close()

    def can_login(self, name, password):
        import pg8000.native

        try:
            pg8000.native.Connection(name, password=password, host=self.host, port=self.port,
                                     database=self.database, timeout=5).close()
            return True
        except pg8000.exceptions.DatabaseError:
            return False
        except pg8000.exceptions.InterfaceError:
            return False


class Redis:
    engine = "redis"
    admin = {"AccountName": "default", "AccountPassword": ""}

    def __init__(self):
        self.address = _env("OPENKMS_TEST_REDIS")
        self.host, self.port = _split(self.address)

    def _admin(self):
        import redis

        return redis.Redis(host=self.host, port=self.port, socket_timeout=5)

    def create_account(self, name, password):
        self._admin().execute_command("ACL", "SETUSER", name, "on", ">" + password, "~%s:*" % name, "+@all")

    def account_exists(self, name):
        return self._admin().execute_command("ACL", "GETUSER", name) is not None

    def can_login(self, name, password):
        import redis

        try:
            return redis.Redis(host=self.host, port=self.port, username=name, password=password,
                               socket_timeout=5).ping()
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
            return False


ENGINES = {"mysql": Mysql, "postgresql": Postgres, "redis": Redis}
