"""Scale-down on a real local cluster: the removed member is stopped, its directory removed, and the
leader no longer keeps its replication slot (Patroni would keep it for member_slots_ttl, 30 min).

One real cluster (etcd + 3 Patroni members, then 2) for the module, in a fresh home.
"""

import copy
import os

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.tests.harness import (
    FAST_PATRONI,
    cluster_manifest,
    local_home,
    skip_without_local_cluster,
)

pytestmark = pytest.mark.patroni

MANIFEST = cluster_manifest("acid-scale", patroni=FAST_PATRONI)


def with_instances(count, cluster=None):
    """The model for ``count`` members, keeping the passwords of a running cluster (as the module does)."""
    manifest = copy.deepcopy(MANIFEST)
    manifest["spec"]["numberOfInstances"] = count
    return lc.model_from_manifest(manifest, None, lc.existing_secrets(cluster.load_state() if cluster else None))


@pytest.fixture(scope="module")
def cluster():
    skip_without_local_cluster()
    with local_home(prefix="pgf-scale-") as home:
        model, conf = with_instances(3)
        cluster = lc.LocalCluster(model["name"], state_root=home)
        cluster.apply(cluster.plan_present(model, conf), timeout=180)
        yield cluster


def leader_slots(cluster):
    state = cluster.load_state()
    status = cluster.status(state)
    port = state["members"][status["leader"]]["pg_port"]
    return set(lc.physical_slots(state["credentials"], port)), status


def test_scale_down_drops_the_removed_members_slot(cluster):
    slots, status = leader_slots(cluster)
    members = ["acid-scale-0", "acid-scale-1", "acid-scale-2"]
    assert slots == set(lc.slot_name(m) for m in members if m != status["leader"])
    model, conf = with_instances(2, cluster)
    previous = cluster.load_state()
    plan = cluster.plan_present(model, conf)
    assert {"action": "remove", "target": "acid-scale-2"} in plan["actions"]
    result = cluster.apply(plan, timeout=180)
    assert result["warnings"] == []
    slots, status = leader_slots(cluster)
    assert "acid_scale_2" not in slots
    assert slots == set(lc.slot_name(m) for m in members[:2] if m != status["leader"])
    assert status["healthy"] and len(status["members"]) == 2
    assert not os.path.exists(os.path.join(cluster.state_dir, "acid-scale-2"))
    assert not lc.pid_alive(previous["members"]["acid-scale-2"]["pid"])
    # the retention setting is back as it was (unset: Patroni's default)
    state = cluster.load_state()
    config = cluster.client(state, status["leader"]).get_config()
    assert "member_slots_ttl" not in config
