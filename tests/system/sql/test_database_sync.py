"""Database sync against a real PostgreSQL 15: default privileges that actually work."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors, PostgresError

pytestmark = pytest.mark.postgres


def noop(sync, model):
    r, d = sync.all(model)
    assert (r["queries"], d["queries"], d["statements"]) == ([], [], 0)


def test_new_prepared_database(pg, sync):
    model = sync.model({"preparedDatabases": {"shop": {"defaultUsers": True,
                                                       "schemas": {"data": {"defaultUsers": True}, "history": {}}}}})
    sync.all(model)
    pw = sync.passwords(model)
    sync.check_access("shop", "data", pw)
    sync.check_access("shop", "history", pw, table="t2")
    # schema-level roles see tables the schema owner user creates in their schema
    sync.check_access("shop", "data", pw, owner="shop_data_owner_user", reader="shop_data_reader_user",
                      writer="shop_data_writer_user", table="t3")
    # and the database-level reader sees them too
    with pg.connect("shop", user="shop_reader_user", password=pw["shop_reader_user"]) as conn:
        assert conn.execute("SELECT count(*) FROM data.t3").fetchone() == (1,)
    noop(sync, model)


def test_existing_database_moved_to_prepared(pg, sync):
    passwords = {"legacy": "legacy-pw"}
    old = sync.model({"users": {"legacy": []}, "databases": {"legacy_db": "legacy"}}, passwords)
    sync.all(old)
    with pg.connect("legacy_db", user="legacy", password="legacy-pw") as conn:
        conn.execute("CREATE TABLE public.old_data (i int)")
    # the documented migration: the database moves from databases to preparedDatabases
    new = sync.model({"users": {"legacy": []},
                      "preparedDatabases": {"legacy_db": {"defaultUsers": True, "schemas": {"public": {"defaultRoles": False},
                                                                                            "data": {}}}}}, passwords)
    r, d = sync.all(new)
    kinds = {a["action"] for a in d["actions"]}
    assert {"alter_database_owner", "create_schema", "grant_default_privileges", "grant_schema_usage"} <= kinds
    pw = sync.passwords(new)
    sync.check_access("legacy_db", "public", pw)
    sync.check_access("legacy_db", "data", pw, table="t_data")
    noop(sync, new)


def test_existing_schema_without_default_privileges(pg, sync):
    """A database and schema made by an earlier operator run whose default privileges are missing."""
    model = sync.model({"preparedDatabases": {"old": {"defaultUsers": True}}})
    sync.roles(model["roles"])
    pg.query("CREATE DATABASE old OWNER old_owner")
    pg.query("CREATE SCHEMA data AUTHORIZATION old_data_owner", dbname="old")
    with pg.connect("old") as conn:
        assert conn.execute("SELECT count(*) FROM pg_default_acl").fetchone() == (0,)
    d = sync.databases(model["databases"], model["prepared_databases"])
    assert "create_schema" not in {a["action"] for a in d["actions"]}
    assert d["statements"] > 10
    sync.check_access("old", "data", sync.passwords(model))
    noop(sync, model)


def test_default_users_turned_on_later(pg, sync):
    off = sync.model({"preparedDatabases": {"late": {"schemas": {"data": {}, "app": {"defaultRoles": False}}}}})
    sync.all(off)
    noop(sync, off)
    on = sync.model({"preparedDatabases": {"late": {"defaultUsers": True,
                                                    "schemas": {"data": {"defaultUsers": True}, "app": {"defaultRoles": False}}}}})
    r, d = sync.all(on)
    assert any(a["action"] == "grant_default_privileges" and a["owner"] == "late_owner_user" for a in d["actions"])
    pw = sync.passwords(on)
    sync.check_access("late", "data", pw)
    sync.check_access("late", "app", pw, table="t_app")
    sync.check_access("late", "data", pw, owner="late_data_owner_user", reader="late_data_reader_user",
                      writer="late_data_writer_user", table="t_s")
    noop(sync, on)


def test_lost_default_privileges_are_restored(pg, sync):
    model = sync.model({"preparedDatabases": {"heal": {"defaultUsers": True}}})
    sync.all(model)
    pg.query("ALTER DEFAULT PRIVILEGES FOR ROLE heal_owner_user REVOKE SELECT ON TABLES FROM heal_reader", dbname="heal")
    pg.query("REVOKE USAGE ON SCHEMA data FROM heal_writer", dbname="heal")
    r, d = sync.all(model)
    assert [q.split(" TO ")[0] for q in d["queries"]] == [
        'GRANT USAGE ON SCHEMA "data"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "heal_owner_user" GRANT SELECT ON TABLES']
    sync.check_access("heal", "data", sync.passwords(model))


def test_extensions_created_and_moved_never_dropped(pg, sync):
    model = sync.model({"preparedDatabases": {"ext": {"extensions": {"pgcrypto": "public"}}}})
    sync.all(model)
    assert pg.query("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgcrypto'",
                    dbname="ext") == [("public",)]
    model = sync.model({"preparedDatabases": {"ext": {"extensions": {"pgcrypto": "data"}}}})
    r, d = sync.all(model)
    assert d["queries"] == ['ALTER EXTENSION "pgcrypto" SET SCHEMA "data"']
    model = sync.model({"preparedDatabases": {"ext": {}}})
    noop(sync, model)
    assert pg.query("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'", dbname="ext") == [(1,)]


def test_errors_surface_and_roll_back(pg, sync):
    model = sync.model({"preparedDatabases": {"broken": {"extensions": {"no_such_ext": "public"}}}})
    sync.roles(model["roles"])
    with pytest.raises(ManifestErrors) as err:
        sync.databases(model["databases"], model["prepared_databases"])
    assert "no_such_ext" in err.value.msg and "not available" in err.value.msg
    assert pg.query("SELECT count(*) FROM pg_database WHERE datname = 'broken'") == [(0,)]
    # roles missing: refused before any statement, with the fix in the message
    with pytest.raises(PostgresError) as err:
        sync.databases({"x": "nobody_here"})
    assert "nobody_here" in err.value.msg and "postgresql_role_sync" in err.value.msg
    # a SQL error inside a database's transaction leaves that database unchanged (here: a
    # non-relocatable extension cannot move)
    model = sync.model({"preparedDatabases": {"broken": {}}})
    sync.all(model)
    before = sync.catalog()
    pg.query("ALTER DEFAULT PRIVILEGES FOR ROLE broken_owner REVOKE SELECT ON TABLES FROM broken_reader", dbname="broken")
    before = sync.catalog()
    bad = [dict(model["prepared_databases"][0], extensions={"plpgsql": "data"})]
    with pytest.raises(PostgresError) as err:
        sync.databases(model["databases"], bad)
    assert "plpgsql" in err.value.msg
    assert sync.catalog() == before


def test_hostile_database_names_refused(pg, sync):
    before = sync.catalog()
    for databases, prepared in [({"d" * 64: "postgres"}, []), ({}, [{"name": "x" * 60}]),
                                ({"template1": "postgres"}, [])]:
        with pytest.raises(ManifestErrors):
            sync.databases(databases, prepared)
    assert sync.catalog() == before
