"""Database sync plans from fake catalog snapshots (pure: no server)."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.dbsync import (
    default_privilege_specs,
    fresh_database,
    normalise_prepared,
    plan_database,
    plan_databases,
)

SHOP = {"name": "shop", "default_users": True, "owner": "shop_owner", "extensions": {"pgcrypto": "public"},
        "schemas": [{"name": "data", "default_roles": True, "default_users": True},
                    {"name": "hist", "default_roles": False, "default_users": False}]}
ROLES = ["postgres", "admin"] + ["shop" + s for s in (
    "_owner", "_reader", "_writer", "_owner_user", "_reader_user", "_writer_user", "_data_owner", "_data_reader",
    "_data_writer", "_data_owner_user", "_data_reader_user", "_data_writer_user")]


def snapshot(databases=None, per_db=None):
    dbs = {"postgres": "postgres", "template1": "postgres"}
    dbs.update(databases or {})
    return {"databases": dbs, "roles": ROLES + ["app_user"], "available_extensions": ["plpgsql", "pgcrypto"],
            "per_db": per_db or {}}


def converged_state(db):
    """A database state in which everything the plan wants is already there."""
    acl, usage = default_privilege_specs(db)
    state = fresh_database()
    for s in db["schemas"]:
        state["schemas"][s["name"]] = {"owner": s["owner"], "usage": sorted(usage.get(s["name"], ()))}
    state["default_acl"] = {k: {g: set(p) | {"TRUNCATE"} for g, p in v.items()} for k, v in acl.items()}
    state["extensions"].update(db["extensions"])
    return state


def normalised(raw):
    errors = []
    out = normalise_prepared([raw], errors)
    assert not errors
    return out[0]


def test_desired_default_privileges_cover_every_owner_schema_pair():
    acl, usage = default_privilege_specs(normalised(SHOP))
    owners = {(o, s) for (o, s, _t) in acl}
    assert owners == {
        ("shop_owner", ""), ("shop_owner_user", ""),  # step 1
        ("shop_data_owner", "data"),  # (a) and (c)
        ("shop_data_owner_user", "data"),  # (b) and (c)
        ("shop_owner", "data"), ("shop_owner_user", "data"),  # (c)
        ("shop_owner", "hist"),  # (a) for a schema without its own roles
        ("shop_owner_user", "hist"),  # (d)
    }
    assert acl[("shop_owner_user", "", "r")] == {"shop_reader": {"SELECT"}, "shop_writer": {"INSERT", "UPDATE", "DELETE"}}
    assert acl[("shop_owner", "", "n")] == {"shop_reader": {"USAGE"}, "shop_writer": {"USAGE"}}
    assert acl[("shop_owner", "data", "r")] == {"shop_data_reader": {"SELECT"},
                                                "shop_data_writer": {"INSERT", "UPDATE", "DELETE"}}
    assert acl[("shop_data_owner", "data", "S")] == {
        "shop_reader": {"SELECT"}, "shop_writer": {"USAGE", "UPDATE"},
        "shop_data_reader": {"SELECT"}, "shop_data_writer": {"USAGE", "UPDATE"}}
    assert usage == {"data": {"shop_reader", "shop_writer", "shop_data_reader", "shop_data_writer"},
                     "hist": {"shop_reader", "shop_writer"}}


def test_new_database_plan():
    plan = plan_databases({"app": "app_user"}, [SHOP], snapshot())
    assert not plan.missing_roles
    assert [a.kind for a in plan.create] == ["create_database", "create_database"]
    q = plan.queries()
    assert q[:2] == ['CREATE DATABASE "app" OWNER "app_user"', 'CREATE DATABASE "shop" OWNER "shop_owner"']
    assert 'CREATE SCHEMA "data" AUTHORIZATION "shop_data_owner"' in q
    assert 'CREATE SCHEMA "hist" AUTHORIZATION "shop_owner"' in q
    assert 'ALTER DEFAULT PRIVILEGES FOR ROLE "shop_owner" GRANT SELECT ON TABLES TO "shop_reader"' in q
    assert 'ALTER DEFAULT PRIVILEGES FOR ROLE "shop_owner" GRANT INSERT, UPDATE, DELETE ON TABLES TO "shop_writer"' in q
    assert ('ALTER DEFAULT PRIVILEGES FOR ROLE "shop_owner" GRANT EXECUTE ON FUNCTIONS TO "shop_reader", "shop_writer"'
            in q)
    assert ('ALTER DEFAULT PRIVILEGES FOR ROLE "shop_data_owner_user" IN SCHEMA "data" GRANT SELECT ON TABLES TO '
            '"shop_data_reader", "shop_reader"' in q)
    assert 'GRANT USAGE ON SCHEMA "hist" TO "shop_reader", "shop_writer"' in q
    assert q[-1] == 'CREATE EXTENSION IF NOT EXISTS "pgcrypto" SCHEMA "public"'
    assert plan.diff["before"]["shop"] is None


def test_converged_database_has_no_statement():
    db = normalised(SHOP)
    plan = plan_databases({"shop": "shop_owner"}, [SHOP], snapshot({"shop": "shop_owner"}, {"shop": converged_state(db)}))
    assert not plan.changed and plan.queries() == [] and plan.warnings == []


def test_only_missing_privileges_are_granted():
    db = normalised(SHOP)
    state = converged_state(db)
    state["default_acl"][("shop_owner_user", "", "r")]["shop_reader"] = set()
    state["default_acl"][("shop_owner", "data", "r")].pop("shop_data_writer")
    del state["default_acl"][("shop_owner", "hist", "T")]
    state["schemas"]["data"]["usage"].remove("shop_writer")
    plan = plan_databases({}, [SHOP], snapshot({"shop": "shop_owner"}, {"shop": state}))
    assert plan.queries() == [
        'GRANT USAGE ON SCHEMA "data" TO "shop_writer"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "shop_owner" IN SCHEMA "data" GRANT INSERT, UPDATE, DELETE ON TABLES TO '
        '"shop_data_writer"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "shop_owner" IN SCHEMA "hist" GRANT USAGE ON TYPES TO "shop_reader", '
        '"shop_writer"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "shop_owner_user" GRANT SELECT ON TABLES TO "shop_reader"',
    ]


def test_moved_database_changes_owner_and_gets_everything():
    # formerly `databases: {shop: app_user}`: public exists, nothing else
    plan = plan_databases({}, [SHOP], snapshot({"shop": "app_user"}, {"shop": fresh_database()}))
    assert plan.cluster[0].statements[0].render() == 'ALTER DATABASE "shop" OWNER TO "shop_owner"'
    assert not plan.create
    assert len(plan.per_db["shop"]) > 20
    assert plan.diff["before"]["shop"]["owner"] == "app_user"


def test_existing_schema_kept_with_warning():
    db = normalised(SHOP)
    state = converged_state(db)
    state["schemas"]["data"]["owner"] = "someone"
    actions, _b, _a, warnings = plan_database(db, state)
    assert actions == [] and "owned by someone" in warnings[0]


def test_extension_moved():
    db = normalised(SHOP)
    state = converged_state(db)
    state["extensions"]["pgcrypto"] = "data"
    actions, _b, after, _w = plan_database(db, state)
    assert [a.statements[0].render() for a in actions] == ['ALTER EXTENSION "pgcrypto" SET SCHEMA "public"']
    assert after["extensions"]["pgcrypto"] == "public"


def test_default_schema_is_data():
    db = normalised({"name": "x", "default_users": False})
    assert db["schemas"] == [{"name": "data", "own_roles": True, "default_users": False, "owner": "x_data_owner",
                              "reader": "x_data_reader", "writer": "x_data_writer", "owner_user": None}]


def test_missing_roles_reported():
    plan = plan_databases({"app": "nobody"}, [], snapshot())
    assert plan.missing_roles == ["nobody"]


@pytest.mark.parametrize("databases, prepared, text", [
    ({"a" * 64: "x"}, [], "64 bytes"),
    ({"template1": "x"}, [], "system database"),
    ({}, [{"name": "y" * 55}], "derived role name"),
    ({}, [{"name": "db", "schemas": [{"name": "pg_temp1"}]}], "reserved"),
    ({}, [{"name": "db", "extensions": {"nope": "public"}}], "not available"),
    ({}, [{"name": "db", "extensions": {"pgcrypto": "nowhere"}}], "does not exist"),
])
def test_invalid_input_refused(databases, prepared, text):
    with pytest.raises(ManifestErrors) as err:
        plan_databases(databases, prepared, snapshot())
    assert text in err.value.msg


def test_owner_from_databases_wins():
    plan = plan_databases({"shop": "app_user"}, [SHOP], snapshot())
    assert plan.create[0].statements[0].render() == 'CREATE DATABASE "shop" OWNER "app_user"'
    assert "owner comes from databases" in plan.warnings[0]
