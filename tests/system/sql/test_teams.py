"""Team members from PostgresTeam objects against a real PostgreSQL 15: added, promoted to a
superuser team, removed (deprecated: NOLOGIN and renamed, never dropped), back again; a no-op
sync afterwards runs zero statements."""

import pytest

pytestmark = pytest.mark.postgres

CONFIG = {"enable_postgres_team_crd": True, "enable_postgres_team_crd_superusers": True,
          "enable_team_member_deprecation": True, "role_deletion_suffix": "_deleted",
          "pam_role_name": "zalandos", "team_admin_role": "admin",
          "team_api_role_configuration": {"log_statement": "all"}, "protected_role_names": ["admin"]}


def team(**spec):
    return {"apiVersion": "acid.zalan.do/v1", "kind": "PostgresTeam", "metadata": {"name": "custom"}, "spec": spec}


def role_state(pg, name):
    rows = pg.query("SELECT rolcanlogin, rolsuper, rolpassword IS NULL FROM pg_authid WHERE rolname = %s", (name,))
    return rows[0] if rows else None


def in_role(pg, member, role):
    return pg.query("SELECT count(*) FROM pg_auth_members WHERE roleid = %s::regrole AND member = %s::regrole",
                    (role, member))[0][0] == 1


def test_members_added_promoted_removed_and_back(pg, sync):
    model = sync.model({"users": {"app": []}})

    def run(obj):
        return sync.roles(model["roles"], teams={"config": CONFIG, "team_id": "acid", "postgres_teams": [obj]})

    r = run(team(additionalTeams={"acid": ["virtual"]}, additionalMembers={"acid": ["alice"], "virtual": ["bob"]}))
    assert r["changed"]
    for name in ("alice", "bob"):
        assert role_state(pg, name) == (True, False, True)  # LOGIN, no superuser, no password
        assert in_role(pg, name, "zalandos") and in_role(pg, name, "admin")
    assert pg.query("SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'alice'::regrole") == [(["log_statement=all"],)]
    assert (run(team(additionalTeams={"acid": ["virtual"]}, additionalMembers={"acid": ["alice"], "virtual": ["bob"]}))
            ["statements"]) == 0

    # bob's team becomes a superuser team
    promoted = team(additionalTeams={"acid": ["virtual"]}, additionalSuperuserTeams={"acid": ["virtual"]},
                    additionalMembers={"acid": ["alice"], "virtual": ["bob"]})
    run(promoted)
    assert role_state(pg, "bob") == (True, True, True)
    # memberships in roles this sync does not manage (admin) are never revoked
    assert in_role(pg, "bob", "zalandos")

    # bob leaves: not dropped, LOGIN removed and renamed
    pg.query("CREATE TABLE public.bobs_table (id int)")
    pg.query("ALTER TABLE public.bobs_table OWNER TO bob")
    r = run(team(additionalMembers={"acid": ["alice"]}))
    assert r["teams"]["events"] == ["team member bob left: LOGIN removed, renamed to bob_deleted"]
    assert role_state(pg, "bob") is None
    assert role_state(pg, "bob_deleted")[0] is False
    assert pg.query("SELECT tableowner FROM pg_tables WHERE tablename = 'bobs_table'") == [("bob_deleted",)]
    again = run(team(additionalMembers={"acid": ["alice"]}))
    assert (again["changed"], again["statements"], again["queries"]) == (False, 0, [])

    # bob comes back: renamed back, LOGIN again, his table still his
    r = run(promoted)
    assert r["teams"]["events"] == ["team member bob is back: role bob_deleted renamed back"]
    assert role_state(pg, "bob") == (True, True, True) and role_state(pg, "bob_deleted") is None
    assert pg.query("SELECT tableowner FROM pg_tables WHERE tablename = 'bobs_table'") == [("bob",)]
    final = run(promoted)
    assert (final["changed"], final["statements"]) == (False, 0)
    # the manifest's own roles were never touched by any of this
    assert role_state(pg, "app")[0] is True


def test_hand_made_roles_and_deprecation_off_are_left_alone(pg, sync):
    model = sync.model({})
    pg.query("CREATE ROLE zalandos NOLOGIN")
    pg.query("CREATE ROLE handmade LOGIN")
    pg.query("CREATE ROLE carol LOGIN IN ROLE zalandos")
    no_source = dict(CONFIG, enable_postgres_team_crd=False)
    sync.roles(model["roles"])
    r = sync.roles(model["roles"], teams={"config": no_source, "team_id": "acid", "postgres_teams": []})
    assert (r["statements"], r["warnings"], r["teams"]["events"]) == (0, [], [])
    off = dict(CONFIG, enable_team_member_deprecation=False)
    r = sync.roles(model["roles"], teams={"config": off, "team_id": "acid", "postgres_teams": []})
    assert r["teams"]["events"] == [] and role_state(pg, "carol")[0] is True
    # an empty or incomplete answer never retires anybody
    r = sync.roles(model["roles"], teams={"config": CONFIG, "team_id": "acid", "postgres_teams": []})
    assert role_state(pg, "carol")[0] is True and "looks like a failed read" in " ".join(r["warnings"])
    dave = [team(additionalMembers={"acid": ["dave"]})]
    r = sync.roles(model["roles"], teams={"config": CONFIG, "team_id": "acid", "postgres_teams": dave, "complete": False})
    assert role_state(pg, "carol")[0] is True and role_state(pg, "dave")[0] is True
    r = sync.roles(model["roles"], teams={"config": CONFIG, "team_id": "acid", "postgres_teams": dave})
    assert role_state(pg, "handmade")[0] is True  # never a team member: untouched
    assert role_state(pg, "carol_deleted")[0] is False and role_state(pg, "dave")[0] is True
