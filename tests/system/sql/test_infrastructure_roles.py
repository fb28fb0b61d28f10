"""Infrastructure roles from each source format against a real PostgreSQL 15; never rotated; a
no-op sync afterwards runs zero statements. Passwords are never shown in assertion messages."""

import base64
import datetime

import psycopg
import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import infra, rotation

pytestmark = pytest.mark.postgres

NOW = datetime.datetime(2026, 12, 3, 20, 0, 0, tzinfo=datetime.timezone.utc)


def secret(name, **data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "operators"},
            "data": dict((k, base64.b64encode(v.encode()).decode()) for k, v in data.items())}


def works(pg, user, password):
    try:
        with pg.connect(user=user, password=password) as conn:
            return conn.execute("SELECT current_user").fetchone()[0] == user
    except psycopg.OperationalError:
        return False


def test_every_source_format_and_never_rotated(pg, sync):
    pg.query("CREATE ROLE cron_admin NOLOGIN")
    cfg = {"infrastructure_roles_secret_name": "legacy",
           "infrastructure_roles_secrets": [
               {"secretname": "mapped", "userkey": "login", "passwordkey": "secret", "rolekey": "group",
                "defaultrolevalue": "pg_monitor"},
               {"secretname": "numbered", "userkey": "u", "passwordkey": "p", "template": True}]}
    pw = {"robot": "robot-pw-1", "mon": "mon-pw-1", "n1": "n1-pw-1"}
    objects = [secret("legacy", user1="robot", password1=pw["robot"], inrole1="admin"),
               secret("mapped", login="mon", secret=pw["mon"]),
               secret("numbered", u1="n1", p1=pw["n1"])]
    maps = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "legacy", "namespace": "operators"},
             "data": {"robot": "inrole: [cron_admin]\nuser_flags: [createdb]\ndb_parameters: {work_mem: 64MB}"}}]
    roles, warnings, complete = infra.infrastructure_roles(cfg, objects, maps, namespace="operators")
    assert complete and warnings == []
    model = sync.model({"users": {"app": []}, "usersWithSecretRotation": ["robot", "app"]})
    policy = rotation.policy_from({"enable_password_rotation": True}, model["spec"], {})
    secrets = {"robot": {"username": "robot", "password": pw["robot"], "nextRotation": "2020-01-01T00:00:00Z"}}

    def run():
        result = sync.roles(model["roles"], infrastructure=roles,
                            rotation={"policy": policy, "secrets": secrets, "now": NOW})
        secrets.update(result["secrets"])  # written back, as the reconcile does
        return result

    r = run()
    assert r["changed"]
    for name in ("robot", "mon", "n1"):
        assert works(pg, name, pw[name]), name
    assert pg.query("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'robot'") == [(True,)]
    assert pg.query("SELECT roleid::regrole::text FROM pg_auth_members WHERE member = 'robot'::regrole ORDER BY 1") == [
        ("admin",), ("cron_admin",)]
    assert pg.query("SELECT roleid::regrole::text FROM pg_auth_members WHERE member = 'mon'::regrole") == [("pg_monitor",)]
    assert pg.query("SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'robot'::regrole") == [(["work_mem=64MB"],)]
    # never rotated, even when listed and due
    assert "robot" not in r["secrets"]
    assert not [e for e in r["rotation"]["events"] if e.startswith("robot")]
    assert pg.query("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'robot2%'") == [(0,)]
    again = run()
    assert (again["changed"], again["statements"], again["queries"]) == (False, 0, [])
