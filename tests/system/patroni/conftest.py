"""A real etcd + Patroni cluster on loopback for the tests in this directory.

Fixture ``local_cluster`` (module scope: one cluster per test module) brings up, from a
``postgresql`` manifest, one etcd and 3 Patroni members (PostgreSQL 15, as the ``postgres`` OS
user) through ``plugins/module_utils/local/cluster.py`` (the same code as ``playbooks/local.yml``),
waits until 1 leader + N-1 streaming replicas, and tears everything down after the module.

Default manifest: ``DEFAULT_MANIFEST`` below (3 instances, ``ttl 20``, ``loop_wait 2``,
``retry_timeout 5``, ``maximum_lag_on_failover 32 MiB``). Parametrise indirectly to change it::

    pytestmark = pytest.mark.parametrize("local_cluster", [2], indirect=True)          # 2 members
    pytestmark = pytest.mark.parametrize("local_cluster", [{"spec": {
        "numberOfInstances": 3, "patroni": {"synchronous_mode": True}}}], indirect=True)
    # a dict is deep-merged into DEFAULT_MANIFEST (a "spec"/"metadata" dict, like a manifest);
    # users, databases and preparedDatabases in it are created on the leader, as by the playbook

The fixture value is a ``ClusterHandle``:

  Static (fixed for the module's life):
    name                  cluster name (Patroni scope), also the member-name prefix
    members               ["<name>-0", "<name>-1", ...]
    api_urls              {member: "http://127.0.0.1:<port>"} (each member's own REST API)
    pg_ports              {member: port}
    dsn                   libpq multi-host string, target_session_attrs=read-write, NO password
    superuser, superuser_password
    replication_user, replication_password
    rest_username, rest_password, rest_auth  (basic auth for POST/PATCH/DELETE; rest_auth is a tuple)
    etcd_url, state_dir, manifest, model, spilo_configuration, cluster (the LocalCluster)
  Live (asked from the members' own GET /patroni each time):
    leader                name of the current leader (None if there is not exactly one)
    leader_api_url        its REST URL;  replicas: names of the other running members
    state(member)         that member's GET /patroni answer (dict) or None
    status()              member rows: member, role, state, lag, timeline, pending_restart(+_reason)
    wait_healthy(timeout=60)   poll until 1 leader + N-1 streaming; returns the rows; raises
                               LocalClusterError (with .context["problems"]) on timeout
  Helpers:
    conninfo(member=None, dbname="postgres")  full libpq string WITH the superuser password: the
                               multi-host read-write DSN, or one member's own port
    connect(member=None, **kwargs)   psycopg connection (autocommit) for conninfo(member)
    stop_member(member, kill=False, postmaster=True)  stop a member's Patroni by PID (SIGKILL with
                               kill=True; postmaster=False leaves its detached Postgres running)
    start_member(member)       start it again (same config, data and ports)
    patroni_log(member)        path of that member's Patroni log (Postgres logs under data/log)

Writer for write-gap checks: ``tests/system/patroni/writer.py`` (``from writer import Writer``),
or the ``cluster_writer`` fixture here (a started ``Writer`` on ``local_cluster.conninfo()``,
stopped after the test).

Environment: ``PGFLEET_TEST_KEEP=1`` keeps the cluster (and prints its state dir) after the
module. The tests are skipped when etcd, Patroni or PostgreSQL 15 are missing (run
``bash scripts/setup.sh``) or when not running as root or as ``postgres``.
"""

import copy
import os
import shutil
import sys
import tempfile

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.tests.harness import FAST_PATRONI, cluster_manifest, skip_without_local_cluster

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

DEFAULT_MANIFEST = cluster_manifest("pgf-test", patroni=dict(FAST_PATRONI, maximum_lag_on_failover=33554432))


def _merge(base, extra):
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def manifest_for(param=None):
    """The manifest the fixture uses for an (indirect) parameter: None, an int or a dict."""
    if param is None:
        return copy.deepcopy(DEFAULT_MANIFEST)
    if isinstance(param, int):
        return _merge(DEFAULT_MANIFEST, {"spec": {"numberOfInstances": param}})
    return _merge(DEFAULT_MANIFEST, param)


class ClusterHandle(object):
    def __init__(self, cluster, manifest, model, spilo_conf):
        state = cluster.load_state()
        summary = cluster.summary(state)
        creds = state["credentials"]
        self.cluster = cluster
        self.manifest = manifest
        self.model = model
        self.spilo_configuration = spilo_conf
        self.name = cluster.name
        self.state_dir = cluster.state_dir
        self.members = sorted(state["members"])
        self.api_urls = summary["api_urls"]
        self.pg_ports = dict((m, state["members"][m]["pg_port"]) for m in self.members)
        self.dsn = summary["dsn"]
        self.etcd_url = summary["etcd_url"]
        self.superuser = creds["superuser"]["username"]
        self.superuser_password = creds["superuser"]["password"]
        self.replication_user = creds["replication"]["username"]
        self.replication_password = creds["replication"]["password"]
        self.rest_username = creds["restapi"]["username"]
        self.rest_password = creds["restapi"]["password"]
        self.rest_auth = (self.rest_username, self.rest_password)

    # --- live -----------------------------------------------------------------------------
    def state(self, member):
        return lc.patroni_state(self.api_urls[member])

    def status(self):
        return self.cluster.status()["members"]

    @property
    def leader(self):
        return self.cluster.status()["leader"]

    @property
    def leader_api_url(self):
        leader = self.leader
        return self.api_urls[leader] if leader else None

    @property
    def replicas(self):
        return [r["member"] for r in self.status() if r["role"] not in ("leader", "standby_leader", "unknown")]

    def wait_healthy(self, timeout=60):
        return self.cluster.wait_healthy(timeout)

    # --- helpers ----------------------------------------------------------------------------
    def conninfo(self, member=None, dbname="postgres"):
        if member is None:
            base = self.dsn.replace("dbname=postgres", "dbname=%s" % dbname)
        else:
            base = "host=127.0.0.1 port=%d user=%s dbname=%s connect_timeout=3" % (
                self.pg_ports[member], self.superuser, dbname)
        return "%s password=%s" % (base, self.superuser_password)

    def connect(self, member=None, **kwargs):
        import psycopg
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.conninfo(member), **kwargs)

    def stop_member(self, member, kill=False, postmaster=True, timeout=30):
        return self.cluster.stop_member(member, kill=kill, postmaster=postmaster, timeout=timeout)

    def start_member(self, member):
        return self.cluster.start_member(member)

    def patroni_log(self, member):
        return os.path.join(self.state_dir, member, "patroni.log")


@pytest.fixture(scope="module")
def local_cluster(request):
    skip_without_local_cluster()
    manifest = manifest_for(getattr(request, "param", None))
    # A short path of our own under /tmp: postgres must traverse it, sockets need short paths.
    state_dir = tempfile.mkdtemp(prefix="pgf-")
    shutil.rmtree(state_dir)  # LocalCluster creates it with the right owner and mode
    model, spilo_conf = lc.model_from_manifest(manifest)
    cluster = lc.LocalCluster(model["name"], state_dir=state_dir)
    try:
        plan = cluster.plan_present(model, spilo_conf)
        cluster.apply(plan, timeout=120)
        spec = manifest["spec"]
        if spec.get("users") or spec.get("databases") or spec.get("preparedDatabases"):
            status = cluster.status()
            leaders = [r for r in status["members"] if r["member"] == status["leader"]]
            assert leaders, "no leader after apply: %s" % status["problems"]
            lc.sync_sql(model, plan["credentials"], leaders[0]["pg_port"])
        handle = ClusterHandle(cluster, manifest, model, spilo_conf)
        yield handle
    finally:
        if os.environ.get("PGFLEET_TEST_KEEP") == "1":
            sys.stderr.write("\nPGFLEET_TEST_KEEP=1: cluster %s kept in %s\n" % (model["name"], state_dir))
        else:
            cluster.absent(timeout=30)


@pytest.fixture
def cluster_writer(local_cluster):
    """A started writer (every 20 ms, multi-host read-write DSN); stopped after the test."""
    from writer import Writer
    with Writer(local_cluster.conninfo()) as w:
        yield w
