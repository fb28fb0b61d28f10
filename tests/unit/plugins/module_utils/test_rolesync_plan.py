"""Role sync plans from fake catalog snapshots (pure: no server)."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import scram
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.rolesync import (
    plan_roles,
    snapshot_from_lists,
    split_list_guc,
)

POSTGRES = {"postgres": {"flags": ["SUPERUSER", "LOGIN"], "password": scram.scram_verifier("root")}}


def snap(roles=None, memberships=(), databases=("postgres",)):
    all_roles = dict(POSTGRES)
    all_roles.update(roles or {})
    return snapshot_from_lists(all_roles, memberships, databases)


def kinds(plan):
    return [(a.kind, a.role) for a in plan.actions]


def test_create_from_empty():
    desired = [
        {"name": "app_owner", "flags": [], "admin": "admin"},
        {"name": "app", "flags": ["LOGIN", "CREATEDB"], "member_of": ["app_owner"], "password": "s3cret",
         "parameters": {"search_path": '"$user", data'}},
    ]
    plan = plan_roles(desired, snap({"admin": {"flags": ["CREATEROLE"]}}))
    q = plan.queries()
    assert q[0] == "SET LOCAL synchronous_commit = 'local'"
    assert q[1] == 'CREATE ROLE "app_owner" WITH NOLOGIN'
    assert q[2] == "CREATE ROLE \"app\" WITH CREATEDB LOGIN PASSWORD '********'"
    assert 'ALTER ROLE "app" SET "search_path" TO "$user", "data"' in q
    assert 'GRANT "app_owner" TO "admin" WITH ADMIN OPTION' in q
    assert 'GRANT "app_owner" TO "app"' in q
    assert not any("s3cret" in x for x in q)
    # the real statement carries a verifier, never the plaintext
    real = plan.actions[1].statements[0].query.as_string()
    assert "SCRAM-SHA-256$4096:" in real and "s3cret" not in real
    assert plan.diff["before"]["app"] is None
    assert plan.diff["after"]["app"]["password"] == "changed"


def test_noop_has_no_statement():
    verifier = scram.scram_verifier("pw")
    live = {
        "grp": {"flags": []},
        "u": {"flags": ["LOGIN"], "password": verifier, "parameters": {"search_path": '"$user", data'}},
        "admin": {"flags": []},
    }
    desired = [{"name": "grp", "flags": [], "admin": "admin"},
               {"name": "u", "flags": ["LOGIN"], "member_of": ["grp"], "password": "pw",
                "parameters": {"search_path": '"$user", "data"'}}]
    plan = plan_roles(desired, snap(live, [("grp", "u", False), ("grp", "admin", True)]))
    assert not plan.changed
    assert plan.queries() == [] and plan.main_statements() == []
    assert plan.diff == {"before": {}, "after": {}}


def test_password_change_only():
    live = {"u": {"flags": ["LOGIN"], "password": scram.scram_verifier("old")}}
    plan = plan_roles([{"name": "u", "flags": ["LOGIN"], "password": "new"}], snap(live))
    assert kinds(plan) == [("set_password", "u")]
    assert plan.queries()[1] == "ALTER ROLE \"u\" WITH PASSWORD '********'"
    assert plan.diff["after"]["u"]["password"] == "changed"


def test_password_none_leaves_stored_password_alone():
    live = {"u": {"flags": ["LOGIN"], "password": scram.scram_verifier("old")}}
    assert not plan_roles([{"name": "u", "flags": ["LOGIN"]}], snap(live)).changed


def test_md5_and_method_switch():
    md5 = scram.md5_verifier("pw", "u")
    live = {"u": {"flags": ["LOGIN"], "password": md5}}
    assert not plan_roles([{"name": "u", "flags": ["LOGIN"], "password": "pw"}], snap(live),
                          password_encryption="md5").changed
    plan = plan_roles([{"name": "u", "flags": ["LOGIN"], "password": "pw"}], snap(live))
    assert kinds(plan) == [("set_password", "u")]
    # an already hashed desired value matches only itself
    assert not plan_roles([{"name": "u", "flags": ["LOGIN"], "password": md5}], snap(live)).changed


def test_flags_converge_both_ways():
    live = {"u": {"flags": ["LOGIN", "CREATEDB", "NOINHERIT"]}}
    plan = plan_roles([{"name": "u", "flags": ["LOGIN", "REPLICATION"]}], snap(live))
    assert plan.queries()[1] == 'ALTER ROLE "u" WITH NOCREATEDB INHERIT REPLICATION'
    assert plan.diff["before"]["u"]["flags"] == ["CREATEDB", "LOGIN", "NOINHERIT"]
    assert plan.diff["after"]["u"]["flags"] == ["LOGIN", "REPLICATION"]
    # NOLOGIN (no LOGIN) removes LOGIN from an existing role
    plan = plan_roles([{"name": "u", "flags": ["NOINHERIT", "CREATEDB"]}], snap(live))
    assert plan.queries()[1] == 'ALTER ROLE "u" WITH NOLOGIN'


def test_memberships_exact_between_managed_roles_only():
    live = {"a": {"flags": []}, "b": {"flags": []}, "u": {"flags": ["LOGIN"]}, "dba": {"flags": []},
            "human": {"flags": ["LOGIN"]}}
    members = [("a", "u", False), ("b", "u", True), ("dba", "u", False), ("a", "human", False)]
    desired = [{"name": "a", "flags": []}, {"name": "b", "flags": []},
               {"name": "u", "flags": ["LOGIN"], "member_of": ["b"]}]
    plan = plan_roles(desired, snap(live, members))
    q = plan.queries()
    assert 'REVOKE "a" FROM "u"' in q
    assert 'REVOKE ADMIN OPTION FOR "b" FROM "u"' in q
    assert not any('"dba"' in x or '"human"' in x for x in q)  # unmanaged: left alone
    assert plan.diff["after"]["u"]["member_of"] == ["b", "dba"]


def test_parameters_exact_when_desired_and_kept_otherwise():
    live = {"u": {"flags": ["LOGIN"], "parameters": {"work_mem": "8MB", "statement_timeout": "5s"}},
            "v": {"flags": ["LOGIN"], "parameters": {"work_mem": "8MB"}}}
    desired = [{"name": "u", "flags": ["LOGIN"], "parameters": {"statement_timeout": "10s"}},
               {"name": "v", "flags": ["LOGIN"]}]
    plan = plan_roles(desired, snap(live))
    assert plan.queries()[1:] == ['ALTER ROLE "u" SET "statement_timeout" TO \'10s\'', 'ALTER ROLE "u" RESET "work_mem"']


@pytest.mark.parametrize("value, expected", [
    ('"$user", data', ["$user", "data"]),
    ('"$user", "data", "my ""x"""', ["$user", "data", 'my "x"']),
    ("a,b", ["a", "b"]),
    ("", []),
])
def test_split_list_guc(value, expected):
    assert split_list_guc(value) == expected


def test_hostile_names_are_quoted_in_sql():
    name = 'x"; DROP ROLE postgres; --'
    plan = plan_roles([{"name": name, "flags": ["LOGIN"]}], snap())
    assert plan.queries()[1] == 'CREATE ROLE "x""; DROP ROLE postgres; --" WITH LOGIN'


@pytest.mark.parametrize("role, text", [
    ({"name": "a" * 64}, "64 bytes"),
    ({"name": "u", "flags": ["LOGIN", "NOLOGIN"]}, "contradict"),
    ({"name": "u", "flags": ["NOPE"]}, "unknown flag"),
    ({"name": "u", "member_of": ["ghost"]}, "does not exist"),
    ({"name": "u", "member_of": ["u"]}, "member of itself"),
    ({"name": "u", "admin": "ghost"}, "does not exist"),
    ({"name": "u", "parameters": {"bad name": "x"}}, "invalid parameter name"),
    ({"name": "pg_u"}, "reserved"),
])
def test_invalid_input_refused(role, text):
    with pytest.raises(ManifestErrors) as err:
        plan_roles([role], snap())
    assert text in err.value.msg


def test_all_problems_reported_at_once():
    with pytest.raises(ManifestErrors) as err:
        plan_roles([{"name": "a", "flags": ["X"]}, {"name": "b", "flags": ["Y"]}], snap())
    assert len(err.value.errors) == 2


def test_login_user_keeps_superuser():
    with pytest.raises(ManifestErrors) as err:
        plan_roles([{"name": "postgres", "flags": ["LOGIN"]}], snap())
    assert "SUPERUSER" in err.value.msg


def test_drop_policy():
    live = {"keep": {"flags": ["LOGIN"]}, "gone": {"flags": ["LOGIN"]}, "boss": {"flags": ["SUPERUSER"]}}
    desired = [{"name": "keep", "flags": ["LOGIN"]}]
    plan = plan_roles(desired, snap(live, databases=["postgres", "app"]), removed=["gone", "never_existed"])
    assert not plan.changed and "gone" in plan.warnings[0]
    plan = plan_roles(desired, snap(live, databases=["postgres", "app"]), removed=["gone", "keep"], drop_removed=True)
    assert [(a.kind, a.database) for a in plan.drop_actions] == [
        ("reassign_owned", "postgres"), ("reassign_owned", "app"), ("drop_role", None)]
    assert plan.queries() == ['REASSIGN OWNED BY "gone" TO "postgres"', 'DROP OWNED BY "gone"',
                              'REASSIGN OWNED BY "gone" TO "postgres"', 'DROP OWNED BY "gone"', 'DROP ROLE "gone"']
    assert plan.diff["after"]["gone"] is None
    with pytest.raises(ManifestErrors):
        plan_roles(desired, snap(live), removed=["boss"], drop_removed=True)
    with pytest.raises(ManifestErrors):
        plan_roles(desired, snap(live), removed=["gone"], drop_removed=True, reassign_to="nobody")


def test_revokes_name_each_grantor_from_postgres_16():
    live = {"a": {"flags": []}, "u": {"flags": ["LOGIN"]}, "creator": {"flags": ["CREATEROLE"]}}
    members = [("a", "u", True, "postgres"), ("a", "u", False, "creator")]
    desired = [{"name": "a", "flags": []}, {"name": "u", "flags": ["LOGIN"]}]
    q15 = plan_roles(desired, snapshot_from_lists(dict(POSTGRES, **live), members)).queries()
    assert q15[1:] == ['REVOKE "a" FROM "u"']
    q16 = plan_roles(desired, snapshot_from_lists(dict(POSTGRES, **live), members, server_version=160004)).queries()
    assert q16[1:] == ['REVOKE "a" FROM "u" GRANTED BY "creator"', 'REVOKE "a" FROM "u" GRANTED BY "postgres"']
    desired[1]["member_of"] = ["a"]
    q16 = plan_roles(desired, snapshot_from_lists(dict(POSTGRES, **live), members, server_version=170000)).queries()
    assert q16[1:] == ['REVOKE ADMIN OPTION FOR "a" FROM "u" GRANTED BY "postgres"']


def test_flag_vocabulary_is_the_models():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.model import roles as model_roles
    from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import rolesync

    assert rolesync.VALID_FLAGS is model_roles.VALID_FLAGS
    assert model_roles.VALID_FLAGS == frozenset(rolesync.ATTRIBUTES) | frozenset("NO" + a for a in rolesync.ATTRIBUTES)
