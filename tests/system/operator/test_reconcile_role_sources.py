"""The reconcile reads the role sources the operator configuration names, against a real PostgreSQL 15:
infrastructure roles from a Secret in the older numbered form and from one in the
``infrastructure_roles_secrets`` form (with its ConfigMap of details), and team members from the
Teams API (a real HTTP server here) asked with the OAuth token from ``oauth_token_secret_name``.
A second reconcile runs no SQL statement.
"""

import base64

import pytest
from ansible_collections.pgfleet.postgres.tests.system.sql.test_teams_api import TOKEN, TeamsServer

from conftest import CONFIGMAP, OPERATOR_NS, manifest, operator_configmap, sql_double

pytestmark = [pytest.mark.k8s, pytest.mark.postgres]

NAME = "acid-sources"


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def secret(name, namespace, data):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": name, "namespace": namespace},
            "data": dict((k, b64(v)) for k, v in data.items())}


@pytest.fixture(scope="module")
def teams():
    server = TeamsServer()
    server.teams = {"acid": ["alice"]}
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster(postgres, teams, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("reconcile-sources"))
    with sql_double(workdir, postgres, NAME, pgfleet_no_log=False) as harness:
        harness.put(operator_configmap({
            "enable_database_access": "true",
            "infrastructure_roles_secret_name": "infra-legacy",  # no namespace: the operator's
            "infrastructure_roles_secrets": "secretname:default/infra-monitor,userkey:user,passwordkey:password",
            "enable_teams_api": "true",
            "teams_api_url": teams.url,
            "oauth_token_secret_name": "default/teams-oauth",
        }))
        harness.put(secret("infra-legacy", OPERATOR_NS, {"user1": "robot_zmon", "password1": "zmon-pw-1",
                                                         "inrole1": "admin"}))
        harness.put(secret("infra-monitor", "default", {"user": "monitor_user", "password": "monitor-pw-1"}))
        harness.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "infra-monitor", "namespace": "default"},
                     "data": {"monitor_user": "user_flags:\n  - createdb\n"}})
        harness.put(secret("teams-oauth", "default", {"read-only-token-secret": TOKEN}))
        harness.put(manifest(NAME, "default"))
        yield harness


def role(postgres, name):
    rows = postgres.query("SELECT rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = %s", (name,))
    return rows[0] if rows else None


def statements(result):
    total = 0
    for res in result.task_results("pgfleet.postgres.postgresql_role_sync"):
        stmts = res.get("statements")
        total += len(stmts) if isinstance(stmts, list) else int(stmts or 0)
    return total


def test_infrastructure_roles_and_team_members_are_created(cluster, postgres, teams):
    assert CONFIGMAP  # the ConfigMap the double's operator reads (replaced above)
    result = cluster.reconcile(NAME, "default")
    assert result.rc == 0, result.stdout[-3000:]
    assert role(postgres, "robot_zmon") is not None, "infrastructure role from the numbered Secret"
    members = set(r[0] for r in postgres.query(
        "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member "
        "JOIN pg_roles g ON g.oid = a.roleid WHERE g.rolname = 'admin'"))
    assert "robot_zmon" in members
    assert role(postgres, "monitor_user") == (True, True), "the secretname form, flags from its ConfigMap"
    assert role(postgres, "alice") is not None, "the team member from the Teams API"
    assert teams.seen_auth and all(teams.seen_auth), "the API was asked with the token from the Secret"


def test_a_second_reconcile_runs_no_statement(cluster):
    cluster.settle()
    result = cluster.reconcile(NAME, "default")
    assert result.rc == 0, result.stdout[-3000:]
    assert statements(result) == 0
