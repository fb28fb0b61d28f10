"""The reconcile's role and database sync, against a real PostgreSQL 15.

The Kubernetes side is the API double (its pods run no Postgres); the sync step is pointed at a
plain PostgreSQL started here (the SQL suite's harness, tests/system/sql/conftest.py) through
``reconcile_postgres_host``/``reconcile_postgres_port``, the way a DBA points it at a port-forward.
The superuser's credential secret is created first with that server's password, as it would exist
for an adopted cluster, and the ``admin`` role Spilo's bootstrap makes is created by hand. Then: the
first reconcile creates the manifest's roles and databases, and a second one runs no SQL statement
at all and writes nothing.
"""

import importlib.util
import os
import shutil
import tempfile

import pytest
from k8s_double import KubeDouble

from conftest import CRD_FILE, OPERATOR_NS, REPO, DoubleHarness, load_yaml, manifest, operator_configmap

pytestmark = [pytest.mark.k8s, pytest.mark.postgres]

NAME = "acid-sql"


def _sql_harness():
    path = os.path.join(REPO, "tests", "system", "sql", "conftest.py")
    spec = importlib.util.spec_from_file_location("pgfleet_sql_harness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def postgres():
    harness = _sql_harness()
    if not os.path.exists(os.path.join(harness.PG_BIN, "initdb")):
        pytest.skip("PostgreSQL 15 is not installed (scripts/setup.sh installs it)")
    base = tempfile.mkdtemp(prefix="pgfleet-reconcile-sql-")
    server = harness.Postgres(base)
    try:
        server.start()
        # what Spilo's bootstrap (post_init) creates and the sync expects: the team admin role
        server.query("CREATE ROLE admin CREATEDB NOLOGIN")
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(postgres, tmp_path_factory):
    import base64

    double = KubeDouble(pod_start_seconds=0.2).start()
    workdir = str(tmp_path_factory.mktemp("reconcile-sql"))
    try:
        kubeconfig = double.write_kubeconfig(os.path.join(workdir, "kubeconfig"))
        harness = DoubleHarness(double, kubeconfig, workdir)
        harness.watch_vars.update({"reconcile_postgres_host": "127.0.0.1", "reconcile_postgres_port": postgres.port,
                                   "reconcile_postgres_sslmode": "disable", "pgfleet_no_log": False})
        for obj in (load_yaml(CRD_FILE), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}},
                    operator_configmap({"enable_database_access": "true"})):
            harness.put(obj)
        b64 = base64.b64encode
        harness.put({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                     "metadata": {"name": "postgres.%s.credentials.postgresql.acid.zalan.do" % NAME, "namespace": "default",
                                  "labels": {"application": "spilo", "cluster-name": NAME, "team": "acid"}},
                     "data": {"username": b64(b"postgres").decode(), "password": b64(postgres.password.encode()).decode()}})
        harness.put(manifest(NAME, "default"))
        yield harness
    finally:
        double.stop()


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
    mark = cluster.mark()
    result = cluster.reconcile(NAME, "default")
    assert result.rc == 0, result.stdout[-3000:]
    counts = sql_statements(result)
    assert counts and sum(counts) == 0, counts
    assert cluster.writes(mark) == []
