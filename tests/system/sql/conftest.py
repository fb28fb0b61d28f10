"""A plain PostgreSQL 15 for the SQL sync tests, started once per session.

The server is pg_server.py's (beside this file): initdb + pg_ctl from /usr/lib/postgresql/15/bin as
the `postgres` OS user, in a temp dir, on a free loopback port, scram-sha-256 on TCP. Torn down by
the postmaster PID at the end.
"""

import signal

import psycopg
import pytest
from ansible_collections.pgfleet.postgres.tests.harness import cluster_manifest
from ansible_collections.pgfleet.postgres.tests.system.sql import pg_server


def _terminated(signum, _frame):
    raise SystemExit("terminated by signal %d" % signum)


@pytest.fixture(scope="session")
def postgres_server():
    if not pg_server.installed():
        pytest.skip(pg_server.NOT_INSTALLED)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # a terminated test run still unwinds through this fixture and stops the server
        signal.signal(signal.SIGTERM, _terminated)
    with pg_server.running("pgfleet-sql-") as server:
        yield server


@pytest.fixture
def pg(postgres_server):
    """The server with a clean catalog, plus the `admin` role Spilo creates (team_admin_role)."""
    postgres_server.reset()
    with postgres_server.connect() as conn:
        conn.execute("CREATE ROLE admin WITH CREATEDB CREATEROLE NOLOGIN")
    return postgres_server


# --- helpers shared by the tests (as fixtures: no importable helper module) ------------------------

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

        cr = cluster_manifest("acid-sql", instances=1)
        cr["spec"].update(spec)
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
