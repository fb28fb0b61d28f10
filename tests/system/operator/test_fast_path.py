"""The fast path (docs/design/reconcile.md section 8): a cluster unchanged since the last full reconcile
left it steady costs one read; anything that changed takes the full reconcile again.

One cluster goes through it in file order: created (its fingerprint recorded), a resync that stops
after the read, an object deleted by hand, a spec change, the full-sync period passing (the clock is
driven by ``reconcile_now``), and the switch that turns the fast path off.
"""

import time

import pytest

from conftest import manifest

pytestmark = [pytest.mark.k8s]

NAME = "acid-steady"
NS = "default"
PERIOD = 3600
FAST = "steady and unchanged since the last full reconcile"


def fast(result):
    return any(FAST in str((res or {}).get("msg")) for res in result.task_results("ansible.builtin.debug"))


def fingerprint(api):
    return api.status(NAME, NS).get("steadyFingerprint") or ""


def reconcile(api, now, **extra):
    extravars = {"reconcile_now": str(now), "reconcile_full_sync_period": PERIOD}
    extravars.update(extra)
    result = api.reconcile(NAME, NS, extravars=extravars)
    assert result.rc == 0, result.stdout[-3000:]
    return result


@pytest.fixture(scope="module")
def clock():
    # the full-sync period's clock, driven by the test: a fixed start, moved by hand
    return {"now": int(time.time()) // PERIOD * PERIOD}


@pytest.fixture(scope="module")
def steady(api, clock):
    api.put(manifest(NAME, NS, numberOfInstances=2))
    first = reconcile(api, clock["now"])
    api.settle()
    return first


def test_create_records_the_fingerprint(api, steady):
    assert not fast(steady)
    assert api.status(NAME, NS)["PostgresClusterStatus"] == "Running"
    assert fingerprint(api).startswith("sha256:")


def test_unchanged_cluster_stops_after_the_read(api, steady, clock):
    before = fingerprint(api)
    mark = api.mark()
    result = reconcile(api, clock["now"])
    assert fast(result), result.stdout[-3000:]
    assert api.writes(mark) == []
    assert fingerprint(api) == before
    # the read and nothing else: not one task of the full reconcile ran
    assert result.task_results("pgfleet.postgres.k8s_apply_set") == []
    assert result.task_results("pgfleet.postgres.k8s_cluster_status") == []


def test_object_deleted_by_hand_takes_the_full_path(api, steady, clock):
    pdb = "postgres-%s-pdb" % NAME
    api.delete("policy/v1", "PodDisruptionBudget", pdb, NS)
    api.settle()
    result = reconcile(api, clock["now"])
    assert not fast(result)
    assert api.get("policy/v1", "PodDisruptionBudget", pdb, NS) is not None
    api.settle()
    # the new state is recorded, so a resync is fast again; one more full reconcile may come first, when the
    # disruption controller wrote the new PDB's status after the reconcile read it
    mark = api.mark()
    if not fast(reconcile(api, clock["now"])):
        assert [m for m, path in api.writes(mark) if not path.endswith("/postgresqls/%s/status" % NAME)] == []
        mark = api.mark()
        assert fast(reconcile(api, clock["now"]))
    assert api.writes(mark) == []


def test_spec_change_takes_the_full_path(api, steady, clock):
    cr = api.current_cr(NAME, NS)
    cr["spec"].setdefault("users", {})["steady_reader"] = []
    api.put(cr)
    result = reconcile(api, clock["now"])
    assert not fast(result)
    api.settle()
    assert fast(reconcile(api, clock["now"]))


def test_full_sync_period_takes_the_full_path_once(api, steady, clock):
    clock["now"] += PERIOD
    mark = api.mark()
    result = reconcile(api, clock["now"])
    assert not fast(result)
    # the only write: the status records the fingerprint of the new period
    assert [path for _method, path in api.writes(mark)] == ["/apis/acid.zalan.do/v1/namespaces/%s/postgresqls/%s/status"
                                                            % (NS, NAME)]
    mark = api.mark()
    assert fast(reconcile(api, clock["now"] + 60))
    assert api.writes(mark) == []


def test_fast_path_off_runs_the_full_reconcile_and_writes_nothing(api, steady, clock):
    mark = api.mark()
    result = reconcile(api, clock["now"], reconcile_fast_path=False)
    assert not fast(result)
    assert result.task_results("pgfleet.postgres.k8s_apply_set")
    assert api.writes(mark) == []


def test_delete(api, steady):
    api.delete("acid.zalan.do/v1", "postgresql", NAME, NS)
    assert api.finalize(NAME, NS).rc == 0
