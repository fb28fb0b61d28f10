"""The reconcile's role and database sync, against a real PostgreSQL 15.

The Kubernetes side is the API double (its pods run no Postgres); the sync step is pointed at a
plain PostgreSQL started here (the SQL suite's harness, tests/system/sql/conftest.py) through
``reconcile_postgres_host``/``reconcile_postgres_port``, the way a DBA points it at a port-forward.
The superuser's credential secret is created first with that server's password, as it would exist
for an adopted cluster, and the ``admin`` role Spilo's bootstrap makes is created by hand. Then: the
first reconcile creates the manifest's roles and databases; a steady resync (the fast path) runs no SQL
at all, a full one finds nothing to do and writes nothing, and a role dropped by hand comes back at the
full reconcile of the next full-sync period.
"""

import time

import pytest

from conftest import manifest, sql_double

pytestmark = [pytest.mark.k8s, pytest.mark.postgres]

NAME = "acid-sql"


@pytest.fixture(scope="module")
def cluster(postgres, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("reconcile-sql"))
    with sql_double(workdir, postgres, NAME, pgfleet_no_log=False) as harness:
        harness.put(manifest(NAME, "default"))
        yield harness


def sql_statements(result):
    counts = []
    for action in ("pgfleet.postgres.postgresql_role_sync", "pgfleet.postgres.postgresql_database_sync"):
        for res in result.task_results(action):
            stmts = res.get("statements")
            counts.append(len(stmts) if isinstance(stmts, list) else int(stmts or 0))
    return counts


def test_first_reconcile_creates_roles_and_databases(cluster, postgres):
    result = cluster.reconcile(NAME, "default")
    assert result.rc == 0, result.stdout[-3000:]
    status = cluster.status(NAME, "default")
    synced = [c for c in status["conditions"] if c["type"] == "DatabasesSynced"]
    assert synced and synced[0]["status"] == "True", status
    roles = set(r[0] for r in postgres.query("SELECT rolname FROM pg_roles"))
    assert {"zalando", "foo_user", "bar_owner", "bar_owner_user", "bar_reader_user", "standby"} <= roles
    dbs = set(r[0] for r in postgres.query("SELECT datname FROM pg_database"))
    assert {"foo", "bar"} <= dbs
    assert sum(sql_statements(result)) > 0


def test_noop_reconcile_runs_no_sql_and_writes_nothing(cluster):
    cluster.settle()
    # the steady cluster's resync stops after its read (the fast path): no SQL at all
    mark = cluster.mark()
    result = cluster.reconcile(NAME, "default")
    assert result.rc == 0, result.stdout[-3000:]
    assert sql_statements(result) == []
    assert cluster.writes(mark) == []
    # the full reconcile asks PostgreSQL, finds nothing to do, writes nothing
    mark = cluster.mark()
    result = cluster.reconcile(NAME, "default", extravars={"reconcile_fast_path": False})
    assert result.rc == 0, result.stdout[-3000:]
    counts = sql_statements(result)
    assert counts and sum(counts) == 0, counts
    assert cluster.writes(mark) == []


def test_role_dropped_by_hand_comes_back_at_the_next_full_sync_period(cluster, postgres):
    postgres.query("DROP ROLE foo_user")
    now = int(time.time())
    # the fast path cannot see inside PostgreSQL: the role stays missing within the period ...
    result = cluster.reconcile(NAME, "default", extravars={"reconcile_now": str(now)})
    assert result.rc == 0, result.stdout[-3000:]
    if sql_statements(result) == []:
        assert "foo_user" not in set(r[0] for r in postgres.query("SELECT rolname FROM pg_roles"))
    # ... and the full reconcile of the next period puts it back
    later = now + 2 * 21600
    result = cluster.reconcile(NAME, "default", extravars={"reconcile_now": str(later)})
    assert result.rc == 0, result.stdout[-3000:]
    assert sum(sql_statements(result)) > 0
    assert "foo_user" in set(r[0] for r in postgres.query("SELECT rolname FROM pg_roles"))
