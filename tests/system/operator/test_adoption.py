"""Taking over a cluster the Zalando operator created: zero pod restarts, zero failed writes.

The reference operator writes its objects with create/update calls under the field manager
``postgres-operator``; its critical-operation PDB carries ``maxUnavailable: 0`` since 2.0 and
``minAvailable: <instances>`` before. The test first lets pgfleet render the complete reference
manifest, then turns every object into what the reference operator leaves behind: created again by
``postgres-operator`` (operation Update), without pgfleet's annotations, with the reference
operator's PDB (either form), and pods that never saw pgfleet. The first reconcile must adopt all of
it without restarting a pod and without a refused write, say what differed, and leave no field owned
by the old manager; the PDB ends with pgfleet's ``maxUnavailable: 0`` only (the server refuses both
fields). The second reconcile writes nothing.
"""

import pytest

from conftest import manifest

pytestmark = [pytest.mark.k8s]

NS = "default"
PREVIOUS = "postgres-operator"
OURS = ("pgfleet.io/applied-checksum", "pgfleet.io/template-checksum", "pgfleet.io/pod-checksum")
KINDS = (("apps/v1", "StatefulSet"), ("v1", "Service"), ("v1", "Secret"), ("policy/v1", "PodDisruptionBudget"))


def without_ours(annotations):
    return dict((k, v) for k, v in (annotations or {}).items() if k not in OURS)


def as_the_reference_operator_left_it(obj, critical_budget):
    meta = obj["metadata"]
    meta["annotations"] = without_ours(meta.get("annotations"))
    if not meta["annotations"]:
        del meta["annotations"]
    spec = obj.get("spec") or {}
    if obj["kind"] == "StatefulSet":
        tmeta = spec["template"]["metadata"]
        tmeta["annotations"] = without_ours(tmeta.get("annotations"))
    if obj["kind"] == "Service":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    if obj["kind"] == "PodDisruptionBudget" and meta["name"].endswith("-critical-op-pdb"):
        # the reference operator's budget, in the form of its version
        spec.pop("minAvailable", None)
        spec.pop("maxUnavailable", None)
        spec.update(critical_budget)
    return obj


def pods(api, name):
    return sorted(api.list("v1", "Pod", NS, "cluster-name=%s" % name), key=lambda p: p["metadata"]["name"])


def previous_owned(obj):
    return [e for e in obj["metadata"].get("managedFields") or []
            if e.get("manager") == PREVIOUS and not e.get("subresource")]


def as_the_reference_operator_left_the_pod(api, name):
    """Read, strip our annotations, replace as the reference operator; read again on a conflict (the
    emulated kubelet and Patroni write pods too, between the read and the write)."""
    for _attempt in range(50):
        pod = api.get("v1", "Pod", name, NS)
        pod.setdefault("apiVersion", "v1")
        pod.setdefault("kind", "Pod")
        pod["metadata"]["annotations"] = without_ours(pod["metadata"].get("annotations"))
        try:
            return api.update_as(pod, PREVIOUS)
        except Exception as err:  # the double's ApiError (.code) or the client's KubernetesError (context status)
            if 409 not in (getattr(err, "code", None), (getattr(err, "context", None) or {}).get("status")):
                raise
    raise AssertionError("pod %s kept changing under the test" % name)


@pytest.mark.parametrize("name, critical_budget", [
    # 2.0 and later: blocks every labelled pod, satisfied when none is labelled (what pgfleet renders)
    ("acid-zalando", {"maxUnavailable": 0}),
    # before 2.0: minAvailable: <instances>, never satisfied while no pod is labelled
    ("acid-zalando-old", {"minAvailable": 2}),
], ids=["maxUnavailable", "minAvailable"])
def test_first_reconcile_adopts_a_zalando_cluster_without_restarts(api, name, critical_budget):
    api.put(manifest(name, NS, numberOfInstances=2))
    first = api.reconcile(name, NS)
    assert first.rc == 0, first.stdout[-3000:]
    api.settle()
    adopted = []
    for api_version, kind in KINDS:
        for obj in api.list(api_version, kind, NS, "cluster-name=%s" % name):
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            obj_name = obj["metadata"]["name"]
            if kind == "Service" and obj_name.endswith("-config"):
                continue  # Patroni's, not the operator's
            api.recreate_as(as_the_reference_operator_left_it(obj, critical_budget), PREVIOUS)
            adopted.append((api_version, kind, obj_name))
    for pod in pods(api, name):
        as_the_reference_operator_left_the_pod(api, pod["metadata"]["name"])
    api.settle()
    pdb_name = "postgres-%s-critical-op-pdb" % name
    critical = api.get("policy/v1", "PodDisruptionBudget", pdb_name, NS)
    assert dict((k, critical["spec"].get(k)) for k in critical_budget) == critical_budget and previous_owned(critical)
    before = dict((p["metadata"]["name"], (p["metadata"]["uid"], p["spec"])) for p in pods(api, name))
    assert len(before) == 2

    mark = api.mark()
    result = api.reconcile(name, NS)
    assert result.rc == 0, result.stdout[-3000:]
    assert result.failed_tasks() == []
    writes = api.writes(mark)
    assert not [w for w in writes if w[0] == "DELETE"], writes
    api.settle()
    # not one pod restarted or re-templated, none flagged for a rolling update
    after = dict((p["metadata"]["name"], (p["metadata"]["uid"], p["spec"])) for p in pods(api, name))
    assert after == before
    for pod in pods(api, name):
        assert "zalando-postgres-operator-rolling-update-required" not in (pod["metadata"].get("annotations") or {})
    # every object is pgfleet's now, and nothing is left owned by the old manager
    for api_version, kind, obj_name in adopted:
        obj = api.get(api_version, kind, obj_name, NS)
        assert previous_owned(obj) == [], (kind, obj_name, obj["metadata"].get("managedFields"))
        assert "pgfleet.io/applied-checksum" in obj["metadata"]["annotations"], (kind, obj_name)
    critical = api.get("policy/v1", "PodDisruptionBudget", pdb_name, NS)
    assert critical["spec"]["maxUnavailable"] == 0 and "minAvailable" not in critical["spec"], critical["spec"]
    # the differences are told
    assert "adopted from field manager %s" % PREVIOUS in result.stdout
    if "minAvailable" in critical_budget:
        assert "pgfleet removes spec.minAvailable" in result.stdout
    assert api.status(name, NS)["PostgresClusterStatus"] == "Running"

    mark = api.mark()
    again = api.reconcile(name, NS)
    assert again.rc == 0, again.stdout[-3000:]
    assert api.writes(mark) == []


def test_a_budget_edited_by_hand_is_taken_back(api):
    """kubectl edit of the critical-operation PDB (maxUnavailable -> minAvailable) after pgfleet applied it: the
    next reconcile takes the field over and writes its own budget, instead of failing on both fields."""
    name = "acid-edited-pdb"
    api.put(manifest(name, NS, numberOfInstances=2))
    assert api.reconcile(name, NS).rc == 0
    api.settle()
    pdb_name = "postgres-%s-critical-op-pdb" % name
    pdb = api.get("policy/v1", "PodDisruptionBudget", pdb_name, NS)
    pdb.setdefault("apiVersion", "policy/v1")
    pdb.setdefault("kind", "PodDisruptionBudget")
    pdb["spec"].pop("maxUnavailable", None)
    pdb["spec"]["minAvailable"] = 2
    pdb.pop("status", None)
    pdb["metadata"].pop("managedFields", None)
    api.update_as(pdb, "kubectl-edit")
    result = api.reconcile(name, NS, extravars={"reconcile_fast_path": False})
    assert result.rc == 0, result.stdout[-3000:]
    assert result.failed_tasks() == []
    spec = api.get("policy/v1", "PodDisruptionBudget", pdb_name, NS)["spec"]
    assert spec.get("maxUnavailable") == 0 and "minAvailable" not in spec, spec
    assert "adopted from field manager kubectl-edit" in result.stdout
