"""Team members from PostgresTeam objects, and the retirement of members who left (pure)."""

from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import teams
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.rolesync import snapshot_from_lists

CONFIG = {"enable_postgres_team_crd": True, "pam_role_name": "zalandos", "team_admin_role": "admin",
          "team_api_role_configuration": {"log_statement": "all"}, "protected_role_names": ["admin", "cron_admin"]}


def pt(name, **spec):
    return {"apiVersion": "acid.zalan.do/v1", "kind": "PostgresTeam", "metadata": {"name": name}, "spec": spec}


def test_transitive_teams_virtual_teams_and_cycles():
    objects = [
        pt("a", additionalTeams={"acid": ["virtual"], "virtual": ["b-team", "acid"]},
           additionalMembers={"acid": ["alice"], "virtual": ["vera"], "b-team": ["bob"]}),
        pt("b", additionalMembers={"acid": ["alice", "carol"], "other": ["oscar"]}),
    ]
    roles, warnings = teams.team_roles("acid", CONFIG, objects)
    names = [r["name"] for r in roles]
    assert names == ["alice", "bob", "carol", "vera"] and warnings == []
    alice = roles[0]
    assert alice["flags"] == ["LOGIN"] and alice["member_of"] == ["zalandos", "admin"]
    assert alice["parameters"] == {"log_statement": "all"} and alice["password"] is None and alice["origin"] == "teams"


def test_superuser_teams_need_the_setting():
    objects = [pt("a", additionalSuperuserTeams={"acid": ["dba"]}, additionalMembers={"dba": ["dan"], "acid": ["alice"]})]
    roles, _w = teams.team_roles("acid", CONFIG, objects)
    assert [r["name"] for r in roles] == ["alice"]
    roles, _w = teams.team_roles("acid", dict(CONFIG, enable_postgres_team_crd_superusers=True), objects)
    dan = [r for r in roles if r["name"] == "dan"][0]
    assert dan["flags"] == ["LOGIN", "SUPERUSER"] and dan["member_of"] == ["zalandos"]
    # the CRD is off: nothing is read
    assert teams.team_roles("acid", dict(CONFIG, enable_postgres_team_crd=False), objects)[0] == []


def test_hostile_objects_are_skipped_with_a_warning():
    objects = [pt("x", additionalMembers={"acid": ["ok", 5, "", "a" * 70, "postgres", "pg_x", "admin"],
                                          "bad": "notalist"}, additionalTeams=["wrong"]), "junk", pt("y")]
    objects[-1]["spec"] = "nope"
    roles, warnings = teams.team_roles("acid", CONFIG, objects)
    assert [r["name"] for r in roles] == ["ok"]
    text = "\n".join(warnings)
    assert "PostgresTeam x: spec.additionalMembers.acid[1]" in text and "spec.additionalTeams is not a mapping" in text
    assert "PostgresTeam y: spec is not a mapping" in text
    assert sum("skipped" in w for w in warnings) == 4  # too long, postgres, pg_x, admin


def test_retire_and_bring_back():
    live = {"postgres": {"flags": ["SUPERUSER", "LOGIN"]}, "zalandos": {}, "alice": {"flags": ["LOGIN"]},
            "bob": {"flags": ["LOGIN"]}, "bystander": {"flags": ["LOGIN"]}, "carol_deleted": {},
            "long" + "x" * 58: {"flags": ["LOGIN"]}}
    members = [("zalandos", "alice", False), ("zalandos", "bob", False), ("zalandos", "carol_deleted", False),
               ("zalandos", "long" + "x" * 58, False)]
    snap = snapshot_from_lists(live, members)
    statements, after, events = teams.plan_deprecation({"alice", "carol", "postgres"}, snap, "zalandos")
    text = [s.render() for s in statements]
    assert text == ['ALTER ROLE "carol_deleted" RENAME TO "carol"',
                    'ALTER ROLE "bob" WITH NOLOGIN', 'ALTER ROLE "bob" RENAME TO "bob_deleted"',
                    'ALTER ROLE "%s" WITH NOLOGIN' % ("long" + "x" * 58)]
    assert "bystander" in after["roles"] and after["roles"]["bystander"]["attrs"]["LOGIN"]  # not a team member
    assert ("zalandos", "bob_deleted") in after["memberships"] and "carol" in after["roles"]
    assert "bob" not in after["roles"]
    assert events[0] == "team member carol is back: role carol_deleted renamed back"
    # nothing to do the second time
    assert teams.plan_deprecation({"alice", "carol", "postgres"}, after, "zalandos")[0] == []


def test_name_clash_stronger_origin_wins_and_is_reported():
    warnings = []
    merged = teams.merge_roles([{"name": "x", "origin": "manifest"}, {"name": "y", "origin": "system"}],
                               [{"name": "x", "origin": "teams"}, {"name": "y", "origin": "teams"}], warnings)
    assert [r["origin"] for r in merged] == ["teams", "system"]
    assert warnings == [
        "role x is defined as a manifest role and as a teams role; the teams definition wins, the manifest one is ignored",
        "role y is defined as a teams role and as a system role; the system definition wins, the teams one is ignored"]
