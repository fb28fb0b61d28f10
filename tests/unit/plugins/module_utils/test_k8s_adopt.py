# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""k8s/adopt.py: the managedFields takeover before pgfleet's first apply over another operator's object
(docs/design/reconcile.md §4), for both forms of the reference operator's critical-operation budget."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import adopt

META = {"f:metadata": {"f:labels": {".": {}, "f:application": {}, "f:cluster-name": {}}}}


def _pdb(spec, *entries):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "postgres-acid-critical-op-pdb", "resourceVersion": "7", "managedFields": list(entries)},
            "spec": spec}


def _entry(manager, operation, spec_fields, time="2026-01-01T00:00:00Z"):
    fields = dict(META)
    fields["f:spec"] = dict(("f:" + f, {}) for f in spec_fields)
    return {"manager": manager, "operation": operation, "apiVersion": "policy/v1", "time": time,
            "fieldsType": "FieldsV1", "fieldsV1": fields}


def _desired(**budget):
    spec = dict(budget)
    spec["selector"] = {"matchLabels": {"cluster-name": "acid", "critical-operation": "true"}}
    meta = {"name": "postgres-acid-critical-op-pdb", "labels": {"application": "spilo", "cluster-name": "acid"}}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": spec}


def _entries(patch):
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert patch[1]["op"] == "replace" and patch[1]["path"] == "/metadata/managedFields"
    return patch[1]["value"]


def test_older_reference_budget_min_available_moves_to_pgfleet_and_is_dropped():
    # the reference operator before 2.0: minAvailable: <instances>; pgfleet renders maxUnavailable: 0
    live = _pdb({"minAvailable": 2, "selector": {}}, _entry("postgres-operator", "Update", ["minAvailable", "selector"]))
    patch, managers = adopt.takeover_patch(live, "pgfleet")
    assert managers == ["postgres-operator"]
    [mine] = _entries(patch)
    assert mine["manager"] == "pgfleet" and mine["operation"] == "Apply"
    assert mine["fieldsV1"]["f:spec"] == {"f:minAvailable": {}, "f:selector": {}}
    assert adopt.dropped_fields(live, _desired(maxUnavailable=0)) == ["spec.minAvailable"]


def test_newer_reference_budget_max_unavailable_is_what_pgfleet_renders():
    live = _pdb({"maxUnavailable": 0, "selector": {}}, _entry("postgres-operator", "Update", ["maxUnavailable", "selector"]))
    patch, managers = adopt.takeover_patch(live, "pgfleet")
    assert managers == ["postgres-operator"]
    [mine] = _entries(patch)
    assert mine["fieldsV1"]["f:spec"] == {"f:maxUnavailable": {}, "f:selector": {}}
    assert adopt.dropped_fields(live, _desired(maxUnavailable=0)) == []


def test_a_budget_field_set_by_hand_is_taken_from_its_manager_too():
    # created by the reference operator, then edited with kubectl: minAvailable belongs to kubectl-edit
    operator = _entry("postgres-operator", "Update", ["selector"])
    edit = _entry("kubectl-edit", "Update", ["minAvailable"], time="2026-02-01T00:00:00Z")
    live = _pdb({"minAvailable": 1, "selector": {}}, operator, edit)
    patch, managers = adopt.takeover_patch(live, "pgfleet")
    assert managers == ["kubectl-edit", "postgres-operator"]
    entries = _entries(patch)
    kept, mine = entries[:-1], entries[-1]
    assert mine["manager"] == "pgfleet" and mine["fieldsV1"]["f:spec"] == {"f:minAvailable": {}, "f:selector": {}}
    # kubectl-edit keeps its other fields, and no longer owns the budget field
    assert [e["manager"] for e in kept] == ["kubectl-edit"]
    assert kept[0]["fieldsV1"] == META and kept[0]["time"] == "2026-02-01T00:00:00Z"
    assert adopt.dropped_fields(live, _desired(maxUnavailable=0)) == ["spec.minAvailable"]


def test_an_entry_that_owned_only_the_budget_field_goes():
    edit = {"manager": "kubectl-patch", "operation": "Update", "apiVersion": "policy/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:maxUnavailable": {}}}}
    ours = _entry("pgfleet", "Apply", ["minAvailable", "selector"])
    live = _pdb({"minAvailable": 1, "maxUnavailable": 0, "selector": {}}, ours, edit)
    patch, managers = adopt.takeover_patch(live, "pgfleet")
    assert managers == ["kubectl-patch"]
    [mine] = _entries(patch)
    assert mine["fieldsV1"]["f:spec"] == {"f:maxUnavailable": {}, "f:minAvailable": {}, "f:selector": {}}
    assert mine["time"] == ours["time"]


def test_nothing_to_take_over():
    ours = _entry("pgfleet", "Apply", ["maxUnavailable", "selector"])
    status = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
              "fieldsV1": {"f:status": {"f:desiredHealthy": {}}}}
    assert adopt.takeover_patch(_pdb({"maxUnavailable": 0}, ours, status), "pgfleet") == (None, [])
    # the exclusive fields are a PodDisruptionBudget's only
    deployment = _pdb({}, _entry("someone", "Update", ["minAvailable"]))
    deployment["kind"] = "Deployment"
    assert adopt.takeover_patch(deployment, "pgfleet") == (None, [])
