"""A plain PostgreSQL 15 to run SQL against: the server of the SQL sync tests (conftest.py beside
this file), of the operator's reconcile-with-SQL tests and of benchmarks/sql_sync_bench.py.

initdb + pg_ctl from /usr/lib/postgresql/15/bin as the `postgres` OS user, in a temp dir, on a
free loopback port, scram-sha-256 on TCP. Stopped by the postmaster PID.

Import it as ``ansible_collections.pgfleet.postgres.tests.system.sql.pg_server`` (see tests/harness.py).
"""

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg
from ansible_collections.pgfleet.postgres.tests.harness import free_port

PG_BIN = "/usr/lib/postgresql/15/bin"
OS_USER = "postgres"
SUPERUSER = "postgres"
NOT_INSTALLED = "PostgreSQL 15 is not installed (scripts/setup.sh installs it)"


def installed():
    return os.path.exists(os.path.join(PG_BIN, "initdb"))


def _as_postgres(args, **kwargs):
    if os.geteuid() == 0:
        args = ["runuser", "-u", OS_USER, "--"] + list(args)
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


class Postgres(object):
    def __init__(self, base):
        self.base = base
        self.data = os.path.join(base, "data")
        self.socket_dir = base
        self.port = free_port()
        self.password = secrets.token_urlsafe(24)
        self.pid = None

    @property
    def params(self):
        return {
            "login_host": "127.0.0.1",
            "login_port": self.port,
            "login_user": SUPERUSER,
            "login_password": self.password,
            "login_db": "postgres",
            "ssl_mode": "disable",
            "connect_timeout": 10,
        }

    def start(self):
        pwfile = os.path.join(self.base, "pw")
        with open(pwfile, "w") as fh:
            fh.write(self.password)
        pw = pwd.getpwnam(OS_USER)
        for path in (self.base, pwfile):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        _as_postgres([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", SUPERUSER, "--pwfile", pwfile,
                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        os.remove(pwfile)
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c password_encryption=scram-sha-256" % (
            self.port, self.socket_dir)
        _as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.base, "log"),
                      "-o", opts, "-w", "-t", "60", "start"])
        with open(os.path.join(self.data, "postmaster.pid")) as fh:
            self.pid = int(fh.readline())

    def stop(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        except ProcessLookupError:
            self.pid = None
            return
        for _attempt in range(300):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def connect(self, dbname="postgres", user=SUPERUSER, password=None, autocommit=True):
        return psycopg.connect(host="127.0.0.1", port=self.port, user=user, dbname=dbname,
                               password=password or self.password, autocommit=autocommit, sslmode="disable")

    def query(self, text, args=None, dbname="postgres"):
        with self.connect(dbname) as conn:
            cur = conn.execute(text, args)
            return cur.fetchall() if cur.description else None

    def reset(self):
        """Drop every database and role a test created (a clean catalog for the next test)."""
        with self.connect() as conn:
            dbs = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')")]
            for db in dbs:
                conn.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(db)))
            roles = [r[0] for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> %s", (SUPERUSER,))]
            for role in roles:
                ident = psycopg.sql.Identifier(role)
                conn.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(ident))
                conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(ident))
            conn.execute("ALTER ROLE postgres RESET ALL")


@contextlib.contextmanager
def running(prefix):
    """A started server in a fresh temp dir (``prefix``); on exit, whatever happened, it is stopped
    and the directory removed."""
    base = tempfile.mkdtemp(prefix=prefix)
    server = Postgres(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


class Credentials(dict):
    """A secret's content whose repr (in an assertion message) never shows the password."""

    def __repr__(self):
        return "<credentials %s>" % dict((k, v) for k, v in self.items() if k != "password")


def can_login(server, creds, user=None):
    """The ``current_user`` of a login to ``server`` with the credentials ``creds`` (username,
    password; ``user`` instead of their username), or None when the login is refused."""
    try:
        with server.connect(user=user or creds["username"], password=creds["password"]) as conn:
            return conn.execute("SELECT current_user").fetchone()[0]
    except psycopg.OperationalError:
        return None
