"""A plain PostgreSQL 15 for the SQL sync tests, started once per session.

initdb + pg_ctl from /usr/lib/postgresql/15/bin as the `postgres` OS user, in a temp dir, on a
free loopback port, scram-sha-256 on TCP. Torn down by the postmaster PID at the end.
"""

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg
import pytest

PG_BIN = "/usr/lib/postgresql/15/bin"
OS_USER = "postgres"
SUPERUSER = "postgres"


def _as_postgres(args, **kwargs):
    if os.geteuid() == 0:
        args = ["runuser", "-u", OS_USER, "--"] + list(args)
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres(object):
    def __init__(self, base):
        self.base = base
        self.data = os.path.join(base, "data")
        self.socket_dir = base
        self.port = _free_port()
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


def _terminated(signum, _frame):
    raise SystemExit("terminated by signal %d" % signum)


@pytest.fixture(scope="session")
def postgres_server():
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        pytest.skip("PostgreSQL 15 is not installed (scripts/setup.sh installs it)")
    base = tempfile.mkdtemp(prefix="pgfleet-sql-")
    server = Postgres(base)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # a terminated test run still unwinds through this fixture and stops the server
        signal.signal(signal.SIGTERM, _terminated)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg(postgres_server):
    """The server with a clean catalog, plus the `admin` role Spilo creates (team_admin_role)."""
    postgres_server.reset()
    with postgres_server.connect() as conn:
        conn.execute("CREATE ROLE admin WITH CREATEDB CREATEROLE NOLOGIN")
    return postgres_server


# --- helpers shared by the tests (as fixtures: no importable helper module) ------------------------

CR_BASE = {
    "apiVersion": "acid.zalan.do/v1",
    "kind": "postgresql",
    "metadata": {"name": "acid-sql", "namespace": "default"},
}


class Sync(object):
    """Runs the sync module code in-process against the test server."""

    def __init__(self, server):
        self.server = server
        self.params = server.params
        self.secrets = {}  # role -> password, like the credential secrets between two syncs

    def model(self, spec, passwords=None):
        """build_model of a manifest spec; `postgres` keeps the harness password, `passwords`
        pins others (as existing secrets would)."""
        from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model

        full = {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"}, "postgresql": {"version": "15"}}
        full.update(spec)
        cr = dict(CR_BASE, spec=full)
        model = build_model(cr, None)
        self.secrets.update(passwords or {})
        self.secrets["postgres"] = self.server.password
        for role in model["roles"]:
            if role["password"] is None:
                continue
            if role["name"] in self.secrets:
                role["password"] = self.secrets[role["name"]]
            else:
                self.secrets[role["name"]] = role["password"]
        return model

    def roles(self, roles, check_mode=False, **kwargs):
        from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.rolesync import sync_roles

        return sync_roles(self.params, roles, check_mode=check_mode, **kwargs)

    def databases(self, databases=None, prepared=None, check_mode=False):
        from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.dbsync import sync_databases

        return sync_databases(self.params, databases or {}, prepared or [], check_mode=check_mode)

    def all(self, model, check_mode=False):
        r = self.roles(model["roles"], check_mode=check_mode)
        d = self.databases(model["databases"], model["prepared_databases"], check_mode=check_mode)
        return r, d

    @staticmethod
    def passwords(model):
        return {r["name"]: r["password"] for r in model["roles"] if r["password"]}

    def catalog(self):
        """Everything the syncs could change, for before/after comparisons."""
        q = self.server.query
        out = {
            "roles": q("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin, rolreplication,"
                       " rolbypassrls, rolpassword FROM pg_authid ORDER BY 1"),
            "members": q("SELECT roleid::regrole::text, member::regrole::text, admin_option FROM pg_auth_members ORDER BY 1, 2"),
            "settings": q("SELECT setrole, setdatabase, setconfig FROM pg_db_role_setting ORDER BY 1, 2"),
            "databases": q("SELECT datname, datdba::regrole::text FROM pg_database ORDER BY 1"),
        }
        for (db,) in q("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"):
            out["db:" + db] = (
                q("SELECT nspname, nspowner::regrole::text, nspacl::text FROM pg_namespace ORDER BY 1", dbname=db),
                q("SELECT defaclrole, defaclnamespace, defaclobjtype, defaclacl::text FROM pg_default_acl ORDER BY 1, 2, 3",
                  dbname=db),
                q("SELECT extname, extnamespace FROM pg_extension ORDER BY 1", dbname=db),
            )
        return out

    def check_access(self, db, schema, passwords, owner=None, reader=None, writer=None, table="t_later"):
        """A table created now by the owner user is readable by the reader user and writable by
        the writer user (default privileges at work)."""
        owner = owner or db + "_owner_user"
        reader = reader or db + "_reader_user"
        writer = writer or db + "_writer_user"
        ident = psycopg.sql.Identifier
        name = ident(schema, table)
        with self.server.connect(db, user=owner, password=passwords[owner]) as conn:
            conn.execute(psycopg.sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, v text)").format(name))
        with self.server.connect(db, user=writer, password=passwords[writer]) as conn:
            conn.execute(psycopg.sql.SQL("INSERT INTO {} (v) VALUES ('w')").format(name))
            conn.execute(psycopg.sql.SQL("UPDATE {} SET v = 'w2'").format(name))
        with self.server.connect(db, user=reader, password=passwords[reader]) as conn:
            rows = conn.execute(psycopg.sql.SQL("SELECT v FROM {}").format(name)).fetchall()
            assert rows == [("w2",)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(psycopg.sql.SQL("INSERT INTO {} (v) VALUES ('r')").format(name))


@pytest.fixture
def sync(pg):
    return Sync(pg)
