"""Password rotation through the reconcile: the API double holds the secrets, a real PostgreSQL 15
holds the roles (the set-up of test_reconcile_sql.py). Time comes from the secret: the test moves
``nextRotation`` into the past instead of waiting. No password is printed (assertions name roles)."""

import base64

import pytest
from ansible_collections.pgfleet.postgres.tests.system.sql.pg_server import Credentials, can_login

from conftest import manifest, sql_double

pytestmark = [pytest.mark.k8s, pytest.mark.postgres]

NAME = "acid-rotate"
SECRET = "foo-user.%s.credentials.postgresql.acid.zalan.do" % NAME


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def unb64(text):
    return base64.b64decode(text).decode("utf-8")


@pytest.fixture(scope="module")
def cluster(postgres, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("reconcile-rotation"))
    with sql_double(workdir, postgres, NAME) as harness:
        cr = manifest(NAME, "default", usersWithSecretRotation=["foo_user"])
        cr["metadata"]["annotations"] = {"pgfleet.io/password-rotation-grace": "1d"}
        harness.put(cr)
        yield harness


def credentials(cluster):
    data = cluster.get("v1", "Secret", SECRET, "default")["data"]
    return Credentials((k, unb64(v)) for k, v in data.items())


def sql_statements(result):
    return sum(int(r.get("statements") or 0) for action in (
        "pgfleet.postgres.postgresql_role_sync", "pgfleet.postgres.postgresql_database_sync")
        for r in result.task_results(action))


def test_rotation_through_the_reconcile(cluster, postgres):
    first = cluster.reconcile(NAME, "default")
    assert first.rc == 0, first.failed_tasks()
    before = credentials(cluster)
    assert before["username"] == "foo_user" and before.get("nextRotation")
    assert can_login(postgres, before) == "foo_user"

    # due: nextRotation in the past
    secret = cluster.get("v1", "Secret", SECRET, "default")
    secret["data"]["nextRotation"] = b64("2020-01-01T00:00:00Z")
    cluster.put(secret)
    rotated = cluster.reconcile(NAME, "default")
    assert rotated.rc == 0, rotated.failed_tasks()
    after = credentials(cluster)
    assert after["username"].startswith("foo_user") and len(after["username"]) == len("foo_user") + 6
    new_password = after["password"] != before["password"]
    assert new_password and after["nextRotation"] > "2020" and after["rotatedAt"]
    assert can_login(postgres, after) == "foo_user"
    assert can_login(postgres, before) == "foo_user"  # grace period
    events = [e.get("message", "") for e in cluster.list("v1", "Event", "default") if e.get("reason") == "PasswordRotation"]
    leaked = any(after["password"] in m for m in events)
    assert events and not leaked

    # the next reconcile runs no SQL statement; it re-applies the rotated secret once with the same
    # content (the render's record of what it applied catches up) and keeps the rotation's keys
    again = cluster.reconcile(NAME, "default")
    assert again.rc == 0, again.failed_tasks()
    assert sql_statements(again) == 0
    assert credentials(cluster) == after
    # and the one after that writes nothing at all
    cluster.settle()
    mark = cluster.mark()
    last = cluster.reconcile(NAME, "default")
    assert last.rc == 0, last.failed_tasks()
    assert sql_statements(last) == 0
    assert cluster.writes(mark) == []
