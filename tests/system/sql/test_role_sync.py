"""Role sync against a real PostgreSQL 15 (module code in-process)."""

import psycopg
import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors, PostgresError
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import scram

pytestmark = pytest.mark.postgres

SPEC = {
    "users": {"zalando": ["superuser", "createdb"], "foo_user": [], "app": ["nologin"]},
    "databases": {"foo": "zalando"},
    "preparedDatabases": {"bar": {"defaultUsers": True, "extensions": {"pgcrypto": "public"},
                                  "schemas": {"data": {}, "history": {"defaultRoles": False}}}},
}


def role_names(pg):
    return {r[0] for r in pg.query("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'")}


def test_create_from_empty_then_noop(pg, sync):
    model = sync.model(SPEC)
    r, d = sync.all(model)
    assert r["changed"] and d["changed"]
    assert r["queries"][0] == "SET LOCAL synchronous_commit = 'local'"
    assert {"zalando", "foo_user", "app", "bar_owner", "bar_owner_user", "bar_data_writer", "standby"} <= role_names(pg)
    # flags, memberships, parameters as asked
    assert pg.query("SELECT rolsuper, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = 'zalando'") == [(True, True, True)]
    assert pg.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'") == [(False,)]
    assert pg.query("SELECT admin_option FROM pg_auth_members WHERE roleid = 'bar_reader'::regrole "
                    "AND member = 'bar_owner'::regrole") == [(True,)]
    assert pg.query("SELECT 1 FROM pg_auth_members WHERE roleid = 'bar_reader'::regrole "
                    "AND member = 'bar_writer'::regrole") == [(1,)]
    assert pg.query("SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'bar_owner'::regrole") == [
        (['search_path="$user", data, history'],)]
    # passwords are stored as SCRAM built on our side and work for logging in
    stored = pg.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'foo_user'")[0][0]
    assert stored.startswith("SCRAM-SHA-256$4096:")
    pw = sync.passwords(model)
    with pg.connect(user="foo_user", password=pw["foo_user"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("foo_user",)
    # plaintext passwords never appear in the returned queries
    text = "\n".join(r["queries"])
    assert not any(p in text for p in pw.values())
    assert "PASSWORD '********'" in text
    # databases
    assert pg.query("SELECT datname, datdba::regrole::text FROM pg_database WHERE datname IN ('foo', 'bar') ORDER BY 1") == [
        ("bar", "bar_owner"), ("foo", "zalando")]
    assert pg.query("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgcrypto'",
                    dbname="bar") == [("public",)]

    # second run: nothing to do, not a single write statement
    before = sync.catalog()
    r2, d2 = sync.all(model)
    assert (r2["changed"], r2["statements"], r2["queries"]) == (False, 0, [])
    assert (d2["changed"], d2["statements"], d2["queries"]) == (False, 0, [])
    assert r2["diff"] == {"before": {}, "after": {}}
    assert sync.catalog() == before


def test_check_mode_changes_nothing(pg, sync):
    model = sync.model(SPEC)
    before = sync.catalog()
    r, d = sync.all(model, check_mode=True)
    assert r["changed"] and r["statements"] > 10  # really sent, then rolled back
    assert d["changed"] and d["planned_queries"]
    assert sync.catalog() == before
    # on a populated cluster check mode also runs the per-database transactions and rolls them back
    sync.all(model)
    pg.query("ALTER DEFAULT PRIVILEGES FOR ROLE bar_owner REVOKE SELECT ON TABLES FROM bar_reader", dbname="bar")
    pg.query("ALTER ROLE foo_user NOCREATEDB CREATEROLE")
    before = sync.catalog()
    r, d = sync.all(model, check_mode=True)
    assert r["changed"] and r["statements"] == 2
    assert d["changed"] and d["statements"] == 1 and not d["planned_queries"]
    assert sync.catalog() == before
    r, d = sync.all(model)
    assert r["queries"][1] == 'ALTER ROLE "foo_user" WITH NOCREATEROLE'


def test_password_change_is_one_alter_role(pg, sync):
    model = sync.model(SPEC, passwords={"foo_user": "first-secret"})
    sync.all(model)
    for role in model["roles"]:
        if role["name"] == "foo_user":
            role["password"] = "second-secret"
    r = sync.roles(model["roles"])
    assert r["queries"] == ["SET LOCAL synchronous_commit = 'local'",
                            "ALTER ROLE \"foo_user\" WITH PASSWORD '********'"]
    assert [a["action"] for a in r["actions"]] == ["set_password"]
    assert r["diff"]["after"]["foo_user"]["password"] == "changed"
    assert r["diff"]["before"]["foo_user"]["password"] == "set"
    with pg.connect(user="foo_user", password="second-secret"):
        pass
    with pytest.raises(psycopg.OperationalError):
        pg.connect(user="foo_user", password="first-secret")
    # unchanged: nothing
    r = sync.roles(model["roles"])
    assert (r["changed"], r["queries"]) == (False, [])


def test_passwords_set_by_the_server_are_verified(pg, sync):
    """Verifiers made by PostgreSQL itself (scram and md5) match without a statement."""
    pg.query("CREATE ROLE s_user LOGIN PASSWORD 'pässwörd-ℌ'")
    with pg.connect() as conn:
        conn.execute("SET password_encryption = 'md5'")
        conn.execute("CREATE ROLE m_user LOGIN PASSWORD 'md5-secret'")
    roles = [{"name": "s_user", "flags": ["LOGIN"], "password": "pässwörd-ℌ"},
             {"name": "m_user", "flags": ["LOGIN"], "password": "md5-secret"}]
    assert sync.roles(roles[:1])["changed"] is False  # server-made SCRAM, non-ASCII (SASLprep)
    assert sync.roles(roles[1:], password_encryption="md5")["changed"] is False  # server-made md5
    # stored with the other method than asked for: re-set once, then stable
    r = sync.roles(roles, password_encryption="md5")
    assert [(a["action"], a["role"]) for a in r["actions"]] == [("set_password", "s_user")]
    r = sync.roles(roles)
    assert sorted(a["role"] for a in r["actions"]) == ["m_user", "s_user"]
    assert sync.roles(roles)["changed"] is False
    assert pg.query("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'm_user'") == [(True,)]
    stored = pg.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'm_user'")[0][0]
    assert scram.verify("md5-secret", stored, "m_user")


HOSTILE = [
    'we"ird',
    "semi;colon",
    "with space",
    "Robert'); DROP ROLE postgres;--",
    "ünïcödé-ロール",
    "x" * 63,
    "é" * 31 + "x",  # 63 bytes
]


def test_hostile_names_are_quoted(pg, sync):
    roles = [{"name": n, "flags": ["LOGIN"], "password": "pw-" + str(i), "member_of": [HOSTILE[0]] if i else [],
              "parameters": {"search_path": '"$user", "%s"' % n.replace('"', '""')}}
             for i, n in enumerate(HOSTILE)]
    r = sync.roles(roles)
    assert r["changed"]
    assert set(HOSTILE) <= role_names(pg)
    assert "postgres" in role_names(pg)
    for i, n in enumerate(HOSTILE):
        with pg.connect(user=n, password="pw-" + str(i)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (n,)
    # databases and prepared databases with odd names
    prepared = [{"name": "sh op;x", "default_users": False, "schemas": [{"name": 'da"ta'}], "extensions": {}}]
    pr = [{"name": n, "flags": [], "admin": None} for n in
          ("sh op;x_owner", "sh op;x_reader", "sh op;x_writer", 'sh op;x_da"ta_owner', 'sh op;x_da"ta_reader',
           'sh op;x_da"ta_writer')]
    sync.roles(roles + pr)
    d = sync.databases({"d'b; DROP DATABASE postgres": 'we"ird'}, prepared)
    assert d["changed"]
    assert pg.query("SELECT datdba::regrole::text FROM pg_database WHERE datname = %s",
                    ("d'b; DROP DATABASE postgres",)) == [('"we""ird"',)]
    assert pg.query("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s", ('da"ta',),
                    dbname="sh op;x") == [('"sh op;x_da""ta_owner"',)]
    # and it is all stable
    assert sync.roles(roles + pr)["queries"] == []
    assert sync.databases({"d'b; DROP DATABASE postgres": 'we"ird'}, prepared)["queries"] == []


@pytest.mark.parametrize("bad, message", [
    ("y" * 64, "64 bytes long"),
    ("é" * 32, "64 bytes long"),
    ("", "is empty"),
    ("nul\x00byte", "NUL byte"),
    ("pg_mine", "reserved"),
    ("public", "reserved"),
])
def test_bad_names_refused_before_any_statement(pg, sync, bad, message):
    before = sync.catalog()
    with pytest.raises(ManifestErrors) as err:
        sync.roles([{"name": "innocent", "flags": ["LOGIN"]}, {"name": bad, "flags": []}])
    assert message in err.value.msg
    assert sync.catalog() == before


@pytest.mark.parametrize("flags, message", [
    (["LOGIN", "NOLOGIN"], "contradict"),
    (["createdb", "NOCREATEDB"], "contradict"),
    (["SUPERDUPER"], "unknown flag"),
    (["LOGIN; DROP ROLE postgres"], "unknown flag"),
])
def test_flag_conflicts_refused_before_any_statement(pg, sync, flags, message):
    before = sync.catalog()
    with pytest.raises(ManifestErrors) as err:
        sync.roles([{"name": "innocent", "flags": ["LOGIN"]}, {"name": "bad", "flags": flags}])
    assert message in err.value.msg and "roles[bad].flags" in err.value.msg
    assert sync.catalog() == before


def test_failure_in_the_middle_leaves_catalog_unchanged(pg, sync):
    sync.roles([{"name": "keep", "flags": ["LOGIN"], "password": "a"}])
    before = sync.catalog()
    roles = [
        {"name": "keep", "flags": ["LOGIN", "CREATEDB"], "password": "b"},
        {"name": "new_one", "flags": ["LOGIN"], "password": "x"},
        {"name": "new_two", "flags": [], "member_of": ["new_one"]},
        {"name": "zz_broken", "flags": [], "parameters": {"work_mem": "banana"}},
    ]
    with pytest.raises(PostgresError) as err:
        sync.roles(roles)
    assert "work_mem" in err.value.msg and err.value.context["sqlstate"] == "22023"
    assert sync.catalog() == before


def test_flags_memberships_parameters_converge(pg, sync):
    pg.query("CREATE ROLE dba_granted NOLOGIN")
    roles = [
        {"name": "grp_a", "flags": []},
        {"name": "grp_b", "flags": []},
        {"name": "u", "flags": ["LOGIN", "CREATEDB"], "member_of": ["grp_a", "grp_b"],
         "parameters": {"statement_timeout": "5s", "search_path": '"$user", public'}},
    ]
    sync.roles(roles)
    pg.query("GRANT dba_granted TO u")  # a membership in a role we do not manage
    pg.query("ALTER ROLE u SET work_mem = '8MB'")
    roles[2] = {"name": "u", "flags": ["LOGIN"], "member_of": ["grp_a"], "admin": "grp_b",
                "parameters": {"statement_timeout": "10s", "search_path": '"$user", public'}}
    r = sync.roles(roles)
    kinds = sorted(a["action"] for a in r["actions"])
    assert kinds == ["alter_role", "grant_membership", "reset_parameter", "revoke_membership", "set_parameter"]
    assert pg.query("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'u'") == [(False,)]
    assert sorted(pg.query("SELECT roleid::regrole::text, member::regrole::text, admin_option FROM pg_auth_members "
                           "WHERE member = 'u'::regrole OR roleid = 'u'::regrole")) == [
        ("dba_granted", "u", False), ("grp_a", "u", False), ("u", "grp_b", True)]
    assert sorted(pg.query("SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'u'::regrole")[0][0]) == [
        'search_path="$user", public', 'statement_timeout=10s']
    assert r["diff"]["before"]["u"]["flags"] == ["CREATEDB", "LOGIN"]
    assert r["diff"]["after"]["u"]["flags"] == ["LOGIN"]
    assert sync.roles(roles)["queries"] == []


def test_removed_roles_kept_unless_policy(pg, sync):
    roles = [{"name": "owner_x", "flags": ["LOGIN"]}, {"name": "gone", "flags": ["LOGIN"]}]
    sync.roles(roles)
    pg.query("CREATE DATABASE dropdb OWNER owner_x")
    pg.query("GRANT CREATE ON SCHEMA public TO gone", dbname="dropdb")
    with pg.connect("dropdb") as conn:
        conn.execute("SET ROLE gone")
        conn.execute("CREATE TABLE public.t_gone (i int)")
    r = sync.roles(roles[:1], removed=["gone"])
    assert r["changed"] is False and "gone" in r["warnings"][0]
    assert "gone" in role_names(pg)
    r = sync.roles(roles[:1], removed=["gone"], drop_removed=True, check_mode=True)
    assert "gone" in role_names(pg) and any(q.startswith('DROP ROLE "gone"') for q in r["queries"])
    r = sync.roles(roles[:1], removed=["gone"], drop_removed=True)
    assert "gone" not in role_names(pg)
    assert 'REASSIGN OWNED BY "gone" TO "postgres"' in r["queries"]
    assert pg.query("SELECT tableowner FROM pg_tables WHERE tablename = 't_gone'", dbname="dropdb") == [("postgres",)]
    assert r["diff"]["after"]["gone"] is None
    with pytest.raises(ManifestErrors):
        sync.roles(roles[:1], removed=["postgres"], drop_removed=True)
