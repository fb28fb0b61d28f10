"""A real 3-member local cluster on PostgreSQL 15 per test module, for the upgrade tests.

``upgrade_cluster`` (module scope) starts etcd + 3 Patroni members through
``module_utils/local/cluster.py`` in a fresh home (tests/harness.py ``local_home``), with a
prepared database ``app`` (and its roles); every cluster is stopped and removed after the module.
Skipped when PostgreSQL 18 with pg_upgrade is not installed (bash scripts/setup.sh).
"""

import os

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import versions
from ansible_collections.pgfleet.postgres.tests.harness import (
    FAST_PATRONI,
    cluster_manifest,
    local_cluster_skip_reason,
    local_home,
)

MANIFEST = cluster_manifest("pgf-up", patroni=FAST_PATRONI, users={"app_user": ["CREATEDB"]},
                            preparedDatabases={"app": {"defaultUsers": True, "extensions": {"hstore": "data"}}})


def skip_reason():
    reason = local_cluster_skip_reason()
    if reason:
        return reason
    new = versions.bin_dir("18")
    if not new or not os.access(os.path.join(new, "pg_upgrade"), os.X_OK):
        return "PostgreSQL 18 with pg_upgrade is not installed: run bash scripts/setup.sh"
    return None


class Handle(object):
    def __init__(self, cluster, model):
        self.cluster = cluster
        self.model = model
        state = cluster.load_state()
        self.creds = state["credentials"]

    def state(self):
        return self.cluster.load_state()

    def leader_port(self):
        status = self.cluster.status()
        return next(r["pg_port"] for r in status["members"] if r["member"] == status["leader"])

    def connect(self, dbname="postgres", port=None, **kwargs):
        import psycopg
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(host="127.0.0.1", port=port or self.leader_port(), dbname=dbname,
                               user=self.creds["superuser"]["username"], password=self.creds["superuser"]["password"],
                               connect_timeout=5, **kwargs)


def start(home, name="pgf-up", manifest=None):
    manifest = dict(manifest or MANIFEST)
    manifest["metadata"] = {"name": name, "namespace": "default"}
    model, spilo_conf = lc.model_from_manifest(manifest)
    cluster = lc.LocalCluster(model["name"], state_root=home)
    plan = cluster.plan_present(model, spilo_conf)
    cluster.apply(plan, timeout=180)
    cluster.wait_healthy(120)
    status = cluster.status()
    port = next(r["pg_port"] for r in status["members"] if r["member"] == status["leader"])
    lc.sync_sql(model, plan["credentials"], port)
    return Handle(cluster, model)


@pytest.fixture(scope="module")
def upgrade_cluster():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with local_home(prefix="pgf-up-") as home:
        yield start(home)
